package main

// Snapshot operations and the events vCenter records for them, for vcollect's default event
// set (issue 23): govmomi 0.24.2 runs a VM's snapshot tasks but records no event for any
// task. vCenter records a TaskEvent when a task starts, its info.descriptionId naming the
// operation (VirtualMachine.createSnapshot, VirtualMachine.removeAllSnapshots,
// vm.Snapshot.remove, VirtualMachine.revertToCurrentSnapshot, vm.Snapshot.revert), and
// for a revert the EventEx com.vmware.vc.vm.VmStateRevertedToSnapshot ("The virtual machine
// state has been reverted to a snapshot"; lamw/vcenter-event-mapping, vSphere 6.7 to 8.0).
//
//	GET /vcsim/snapshot?entity=<VM name or moid>&op=create|revert|remove
//
// runs the VM's CreateSnapshot_Task, RevertToCurrentSnapshot_Task or RemoveAllSnapshots_Task
// as the SOAP call would, then records those events on the VM; answers the keys of the
// events: {"keys": [K, ...]}. Not like vCenter: the simulator's own descriptionId for these
// tasks is "VirtualMachine.<method>"; the events carry vCenter's.

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	simulator.RegisterEndpoint(func(s *simulator.Service, r *simulator.Registry) {
		if r.IsVPX() {
			s.Handle("/vcsim/snapshot", http.HandlerFunc(snapshotOp))
		}
	})
}

// The task vCenter names for each operation: its descriptionId and its method.
var snapshotTasks = map[string][2]string{
	"create": {"VirtualMachine.createSnapshot", "CreateSnapshot_Task"},
	"revert": {"VirtualMachine.revertToCurrentSnapshot", "RevertToCurrentSnapshot_Task"},
	"remove": {"VirtualMachine.removeAllSnapshots", "RemoveAllSnapshots_Task"},
}

func snapshotOp(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	task, ok := snapshotTasks[q.Get("op")]
	if !ok {
		http.Error(w, "need op=create|revert|remove", http.StatusBadRequest)
		return
	}
	vm, ok := entityNamed(q.Get("entity")).(*simulator.VirtualMachine)
	if !ok {
		http.Error(w, "no VM "+q.Get("entity"), http.StatusNotFound)
		return
	}
	ctx := &simulator.Context{Session: &simulator.Session{UserSession: types.UserSession{UserName: "vcsim-test"}}}
	var body soap.HasFault
	simulator.Map.WithLock(vm, func() {
		switch q.Get("op") {
		case "create":
			body = vm.CreateSnapshotTask(&types.CreateSnapshot_Task{This: vm.Self, Name: "vcollect-test"})
		case "revert":
			body = vm.RevertToCurrentSnapshotTask(&types.RevertToCurrentSnapshot_Task{This: vm.Self})
		case "remove":
			body = vm.RemoveAllSnapshotsTask(ctx, &types.RemoveAllSnapshots_Task{This: vm.Self})
		}
	})
	if f := body.Fault(); f != nil {
		http.Error(w, task[1]+": "+f.String, http.StatusConflict)
		return
	}
	ev := &types.TaskEvent{Info: types.TaskInfo{
		Name:          task[1],
		DescriptionId: task[0],
		Entity:        &vm.Self,
		EntityName:    vm.Name,
		State:         types.TaskInfoStateRunning,
	}}
	ev.FullFormattedMessage = "Task: " + task[0]
	keys := []string{fmt.Sprint(post(ev, vm))}
	if q.Get("op") == "revert" {
		ex := &types.EventEx{EventTypeId: "com.vmware.vc.vm.VmStateRevertedToSnapshot", Severity: "info"}
		ex.FullFormattedMessage = fmt.Sprintf("The virtual machine %s has been reverted to the state of snapshot vcollect-test", vm.Name)
		keys = append(keys, fmt.Sprint(post(ex, vm)))
	}
	fmt.Fprintf(w, `{"keys": [%s]}`, strings.Join(keys, ", "))
}
