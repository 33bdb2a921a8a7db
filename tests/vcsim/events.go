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
// A steady stream, for measuring what reading events costs (docs/benchmarks.md):
//
//	GET /vcsim/event-rate?per_second=100
//
// posts that many events a second (0 stops), round robin over power, migration and
// maintenance types of the default event set on every VM and host, and answers how many
// it posted since the last call and the last key: {"posted": N, "last_key": K}.
//
// Not like vCenter (govmomi 0.24.2's EventHistoryCollector): a collector holds only the
// newest events (its page, filter.maxCount, at most 1000, default 10), not the history
// since filter.time.beginTime; ReadNextEvents reads that page. event_window.go drops the
// events outside the filter's time from what it answers, as vCenter would not send them.
// The manager itself keeps the newest 1000 events: a reader more than 1000 events behind
// misses the older ones, as one behind vCenter's retention would. VmMigratedEvent's
// message template in govmomi 0.24.2 is malformed (posting one fails): use
// DrsVmMigratedEvent for a migration.

import (
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	simulator.RegisterEndpoint(func(s *simulator.Service, r *simulator.Registry) {
		if r.IsVPX() {
			s.Handle("/vcsim/event", http.HandlerFunc(postEvent))
			s.Handle("/vcsim/event-rate", http.HandlerFunc(eventRate))
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
	fmt.Fprintf(w, `{"key": %d}`, post(ev, obj))
}

// post records ev on obj in the EventManager; returns its key.
func post(ev types.BaseEvent, obj mo.Entity) int32 {
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
	return ev.GetEvent().Key
}

var rate = struct {
	sync.Mutex
	stop    chan struct{}
	posted  int
	lastKey int32
}{}

// eventRate starts (or stops, per_second=0) the steady stream described above.
func eventRate(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("per_second"))
	if err != nil || n < 0 {
		http.Error(w, "need per_second=N (0 stops)", http.StatusBadRequest)
		return
	}
	rate.Lock()
	defer rate.Unlock()
	if rate.stop != nil {
		close(rate.stop)
		rate.stop = nil
	}
	fmt.Fprintf(w, `{"posted": %d, "last_key": %d}`, rate.posted, rate.lastKey)
	rate.posted = 0
	if n > 0 {
		rate.stop = make(chan struct{})
		go streamEvents(n, rate.stop)
	}
}

// streamEvents posts per_second events a second until stop is closed.
func streamEvents(perSecond int, stop chan struct{}) {
	var objs []mo.Entity
	for _, kind := range []string{"VirtualMachine", "HostSystem"} {
		objs = append(objs, simulator.Map.All(kind)...)
	}
	vmTypes := []func() types.BaseEvent{
		func() types.BaseEvent { return &types.VmPoweredOffEvent{} },
		func() types.BaseEvent { return &types.VmPoweredOnEvent{} },
		func() types.BaseEvent { return &types.DrsVmMigratedEvent{} },
	}
	hostTypes := []func() types.BaseEvent{
		func() types.BaseEvent { return &types.EnteringMaintenanceModeEvent{} },
		func() types.BaseEvent { return &types.EnteredMaintenanceModeEvent{} },
		func() types.BaseEvent { return &types.ExitMaintenanceModeEvent{} },
	}
	tick := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		obj := objs[i%len(objs)]
		kinds := vmTypes
		if _, host := obj.(*simulator.HostSystem); host {
			kinds = hostTypes
		}
		key := post(kinds[(i/len(objs))%len(kinds)](), obj)
		rate.Lock()
		rate.posted++
		rate.lastKey = key
		rate.Unlock()
	}
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
