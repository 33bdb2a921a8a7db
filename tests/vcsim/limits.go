package main

// vCenter's limits on QueryPerf, as a real vCenter enforces them (vcollect issue 18):
//
//   - config.vpxd.stats.maxQueryMetrics, readable through the OptionManager (QueryOptions):
//     a call asking historical statistics (any interval but the 20-s realtime one) of more
//     than that many metrics (entity x metric id) is refused whole with the fault
//     RestrictedByAdministrator. Absent, vCenter 6.5+ applies 256; -1 lifts the limit.
//     A cluster's metric ids count -cluster-metric-weight times each: vCenter over-counts
//     cluster queries (Telegraf #5037; govmomi #2438 saw about 15 cluster metrics refused
//     under 256, while Telegraf's 10 per call pass), so 20 by default;
//   - a spec naming an entity that no longer exists fails the whole call with
//     ManagedObjectNotFound naming it;
//   - GET /vcsim/control?destroy=N deletes N powered-on VMs, as an admin deleting VMs while
//     a collector runs.

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// maxQueryMetricsOption is the advanced setting a collector reads.
const maxQueryMetricsOption = "config.vpxd.stats.maxQueryMetrics"

// defaultMaxQueryMetrics is what vCenter 6.5+ enforces when the option is not set.
const defaultMaxQueryMetrics = 256

// limits holds the enforced maxQueryMetrics (<= 0: none) and the cluster weight.
type limits struct {
	maxQueryMetrics int
	clusterWeight   int
}

// installLimits sets the option (unless optionValue is 0: absent, vCenter's default
// enforced) and returns what QueryPerf enforces.
func installLimits(optionValue, clusterWeight int) limits {
	l := limits{maxQueryMetrics: defaultMaxQueryMetrics, clusterWeight: clusterWeight}
	if optionValue == 0 {
		return l
	}
	l.maxQueryMetrics = optionValue
	om := simulator.Map.OptionManager()
	om.Setting = append(om.Setting, &types.OptionValue{Key: maxQueryMetricsOption, Value: int32(optionValue)})
	return l
}

// refuses is the fault for a call asking too many historical metrics, or nil. Specs of VMs
// and hosts at the 20-s interval are realtime and not counted.
func (l limits) refuses(specs []types.PerfQuerySpec) *types.RestrictedByAdministrator {
	if l.maxQueryMetrics <= 0 {
		return nil
	}
	n := 0
	for _, qs := range specs {
		realtime := (qs.Entity.Type == "VirtualMachine" || qs.Entity.Type == "HostSystem") &&
			(qs.IntervalId == 0 || qs.IntervalId == realtimeInterval)
		if realtime {
			continue
		}
		w := 1
		if qs.Entity.Type == "ClusterComputeResource" {
			w = l.clusterWeight
		}
		n += len(qs.MetricId) * w
	}
	if n <= l.maxQueryMetrics {
		return nil
	}
	return &types.RestrictedByAdministrator{Details: "vpxd.stats.maxQueryMetrics"}
}

// restrictedMessage is vCenter's faultstring for RestrictedByAdministrator on QueryPerf.
const restrictedMessage = "This operation is restricted by the administrator - 'vpxd.stats.maxQueryMetrics'. Contact your system administrator."

// goneMessage is vCenter's faultstring for an entity that no longer exists.
func goneMessage(ref types.ManagedObjectReference) string {
	return fmt.Sprintf("The object 'vim.%s:%s' has already been deleted or has not been completely created", ref.Type, ref.Value)
}

// destroyVMs removes n powered-on VMs from the inventory (folder, host, pool, registry) and
// returns their moids.
func destroyVMs(n int) []string {
	var gone []string
	for _, obj := range simulator.Map.All("VirtualMachine") {
		if len(gone) >= n {
			break
		}
		vm := obj.(*simulator.VirtualMachine)
		if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
			continue
		}
		ref := vm.Self
		if f, ok := simulator.Map.Get(*vm.Parent).(*simulator.Folder); ok {
			simulator.RemoveReference(&f.ChildEntity, ref)
		}
		if vm.Runtime.Host != nil {
			if h, ok := simulator.Map.Get(*vm.Runtime.Host).(*simulator.HostSystem); ok {
				simulator.RemoveReference(&h.Vm, ref)
			}
		}
		if vm.ResourcePool != nil {
			if rp, ok := simulator.Map.Get(*vm.ResourcePool).(*simulator.ResourcePool); ok {
				simulator.RemoveReference(&rp.Vm, ref)
			}
		}
		simulator.Map.Remove(ref)
		gone = append(gone, ref.Value)
	}
	return gone
}

// controlDestroy serves the destroy=N part of /vcsim/control.
func controlDestroy(w http.ResponseWriter, v string) bool {
	n, err := strconv.Atoi(v)
	if err != nil {
		http.Error(w, "destroy: "+err.Error(), http.StatusBadRequest)
		return false
	}
	for _, moid := range destroyVMs(n) {
		fmt.Fprintf(w, "destroyed %s\n", moid)
	}
	return true
}
