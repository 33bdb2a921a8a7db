package main

// A host that vCenter loses (vcollect issue 18): disconnected or not responding, as after a
// network cut, a crash or an administrator's "Disconnect".
//
//   - GET /vcsim/control?disconnect=1&host=H marks host H and every VM on it
//     runtime.connectionState "disconnected" (the VMs' state follows their host's in vCenter),
//     so a rediscovery sees it; ?disconnect=0&host=H connects them again.
//   - A QueryPerf call that names the host or one of its VMs is refused whole with
//     HostNotConnected and the message pyVmomi showed from a real vCenter
//     (equelin/vsanmetrics#4). The fault names no entity. That a realtime QueryPerf fails
//     whole rather than leaving the entity out is our guess at the worst case: a collector
//     must cope with either.

import (
	"net/http"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// hostNotConnectedMessage is vCenter's faultstring for HostNotConnected.
const hostNotConnectedMessage = "Unable to communicate with the remote host, since it is disconnected."

// lostHosts holds the moids of the disconnected hosts and of their VMs.
type lostHosts struct {
	mu       sync.Mutex
	entities map[string]bool
}

var lost = lostHosts{entities: map[string]bool{}}

// refuses is the fault for a call naming an entity of a disconnected host, or nil.
func (l *lostHosts) refuses(specs []types.PerfQuerySpec) *types.HostNotConnected {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, qs := range specs {
		if l.entities[qs.Entity.Value] {
			return &types.HostNotConnected{}
		}
	}
	return nil
}

// setConnected changes host's connection state and its VMs', as vCenter shows them.
func (l *lostHosts) setConnected(host string, connected bool) {
	h, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "HostSystem", Value: host}).(*simulator.HostSystem)
	if !ok {
		return
	}
	hostState := types.HostSystemConnectionStateDisconnected
	vmState := types.VirtualMachineConnectionStateDisconnected
	if connected {
		hostState = types.HostSystemConnectionStateConnected
		vmState = types.VirtualMachineConnectionStateConnected
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	simulator.Map.WithLock(h, func() { h.Runtime.ConnectionState = hostState })
	l.mark(host, !connected)
	for _, ref := range h.Vm {
		vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
		if !ok {
			continue
		}
		simulator.Map.WithLock(vm, func() { vm.Runtime.ConnectionState = vmState })
		l.mark(ref.Value, !connected)
	}
}

func (l *lostHosts) mark(moid string, gone bool) {
	if gone {
		l.entities[moid] = true
	} else {
		delete(l.entities, moid)
	}
}

// controlDisconnect serves the disconnect=0|1 part of /vcsim/control.
func controlDisconnect(w http.ResponseWriter, host, v string) bool {
	if host == "" {
		http.Error(w, "disconnect needs host", http.StatusBadRequest)
		return false
	}
	lost.setConnected(host, v != "1")
	return true
}
