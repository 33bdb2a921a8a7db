package main

// Events posted at run time, for vcollect's vsphere_event points: a test asks for an event
// of a type on an entity, and the simulator's own EventManager records it (key, chainId,
// createdTime, userName and fullFormattedMessage as govmomi fills them in):
//
//	GET /vcsim/event?type=VmPoweredOffEvent&entity=<moid or name>
//
// The event names the entity and what vCenter names with it: for a VM its host, the host's
// cluster (or standalone compute resource) and the datacenter; for a host the same without
// the VM; for a datastore, the datastore and the datacenter.
//
// Not like vCenter (govmomi 0.24.2's EventHistoryCollector): a collector holds only the
// newest events (its page, filter.maxCount, at most 1000, default 10), not the history
// since filter.time.beginTime, which it ignores; ReadNextEvents reads that page. vcollect
// asks for a page of 1000 and keeps only the keys it has not written. VmMigratedEvent's
// message template in govmomi 0.24.2 is malformed (posting one fails): use
// DrsVmMigratedEvent for a migration.

import (
	"fmt"
	"net/http"
	"reflect"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	simulator.RegisterEndpoint(func(s *simulator.Service, r *simulator.Registry) {
		if r.IsVPX() {
			s.Handle("/vcsim/event", http.HandlerFunc(postEvent))
		}
	})
}

func postEvent(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	t, ok := types.TypeFunc()(q.Get("type"))
	if !ok {
		http.Error(w, "unknown event type "+q.Get("type"), http.StatusBadRequest)
		return
	}
	ev, ok := reflect.New(t).Interface().(types.BaseEvent)
	if !ok {
		http.Error(w, q.Get("type")+" is not an event", http.StatusBadRequest)
		return
	}
	obj := entityNamed(q.Get("entity"))
	if obj == nil {
		http.Error(w, "no entity "+q.Get("entity"), http.StatusNotFound)
		return
	}
	nameEntities(ev.GetEvent(), obj)
	if h := ev.GetEvent().Host; h != nil {
		// A migration's source: the same host (the event is what is tested, not DRS).
		if f := reflect.ValueOf(ev).Elem().FieldByName("SourceHost"); f.IsValid() && f.CanSet() {
			f.Set(reflect.ValueOf(*h))
		}
	}
	m := simulator.Map.EventManager()
	ctx := &simulator.Context{Session: &simulator.Session{UserSession: types.UserSession{UserName: "vcsim-test"}}}
	simulator.Map.WithLock(m, func() {
		m.PostEvent(ctx, &types.PostEvent{EventToPost: ev})
	})
	fmt.Fprintf(w, `{"key": %d}`, ev.GetEvent().Key)
}

// nameEntities fills in the entity arguments of e for obj and its parents.
func nameEntities(e *types.Event, obj mo.Entity) {
	arg := func(o mo.Entity) types.EntityEventArgument {
		return types.EntityEventArgument{Name: o.Entity().Name}
	}
	host := func(h mo.Entity) {
		e.Host = &types.HostEventArgument{EntityEventArgument: arg(h), Host: h.Entity().Self}
		if p := h.Entity().Parent; p != nil && (p.Type == "ClusterComputeResource" || p.Type == "ComputeResource") {
			if cr, ok := simulator.Map.Get(*p).(mo.Entity); ok {
				e.ComputeResource = &types.ComputeResourceEventArgument{EntityEventArgument: arg(cr), ComputeResource: *p}
			}
		}
	}
	switch o := obj.(type) {
	case *simulator.VirtualMachine:
		e.Vm = &types.VmEventArgument{EntityEventArgument: arg(o), Vm: o.Self}
		if o.Runtime.Host != nil {
			if h, ok := simulator.Map.Get(*o.Runtime.Host).(mo.Entity); ok {
				host(h)
			}
		}
	case *simulator.HostSystem:
		host(o)
	case *simulator.Datastore:
		e.Ds = &types.DatastoreEventArgument{EntityEventArgument: arg(o), Datastore: o.Self}
	}
	for p := obj.Entity().Parent; p != nil; {
		parent, ok := simulator.Map.Get(*p).(mo.Entity)
		if !ok {
			return
		}
		if p.Type == "Datacenter" {
			e.Datacenter = &types.DatacenterEventArgument{EntityEventArgument: arg(parent), Datacenter: *p}
			return
		}
		p = parent.Entity().Parent
	}
}
