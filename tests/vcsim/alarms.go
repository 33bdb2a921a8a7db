package main

// Triggered alarms, for vcollect's vsphere_alarm points. govmomi 0.24.2's simulator has no
// AlarmManager and no Alarm objects; this adds what vcollect reads: Alarm managed objects
// (info.name, info.key, info.alarm, info.entity) and an entity's triggeredAlarmState, set
// at run time by a test:
//
//	GET /vcsim/alarm?entity=<moid or name>&name=<alarm name>&status=red|yellow|green|gray[&ack=1]
//
// sets (or replaces) that alarm's state on the entity, and the entity's overallStatus to the
// worst of its triggered alarms; status=green removes the state, as vCenter drops an alarm
// that turned green from triggeredAlarmState. An alarm named for the first time is created,
// defined on the root folder as vCenter's predefined alarms are.
//
// Each transition is also an AlarmStatusChangedEvent in the EventManager (events.go).
//
// Shapes taken from the vSphere API reference (AlarmState, AlarmInfo), not from a vCenter's
// answers: the state's key is "<alarm>.<entity>", its time the time of the call.

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

var alarms = struct {
	sync.Mutex
	byName map[string]*mo.Alarm
}{byName: map[string]*mo.Alarm{}}

func init() {
	simulator.RegisterEndpoint(func(s *simulator.Service, r *simulator.Registry) {
		if r.IsVPX() {
			s.Handle("/vcsim/alarm", http.HandlerFunc(triggerAlarm))
		}
	})
}

// alarmNamed returns the alarm of that name, created on first use.
func alarmNamed(name string) *mo.Alarm {
	alarms.Lock()
	defer alarms.Unlock()
	if a, ok := alarms.byName[name]; ok {
		return a
	}
	a := &mo.Alarm{}
	a.Self = types.ManagedObjectReference{Type: "Alarm", Value: fmt.Sprintf("alarm-%d", len(alarms.byName)+101)}
	root := simulator.Map.Get(simulator.Map.Get(types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}).(*simulator.ServiceInstance).Content.RootFolder).(mo.Entity)
	a.Info = types.AlarmInfo{
		AlarmSpec:        types.AlarmSpec{Name: name, SystemName: "", Description: name, Enabled: true},
		Key:              a.Self.Value,
		Alarm:            a.Self,
		Entity:           root.Entity().Self,
		LastModifiedTime: time.Now(),
		LastModifiedUser: "vcsim",
	}
	simulator.Map.Put(a)
	alarms.byName[name] = a
	return a
}

// entityNamed finds a managed entity by moid or name.
func entityNamed(id string) mo.Entity {
	for _, kind := range []string{"HostSystem", "VirtualMachine", "ClusterComputeResource", "Datastore", "Datacenter", "ResourcePool"} {
		for _, obj := range simulator.Map.All(kind) {
			e := obj.Entity()
			if e.Self.Value == id || e.Name == id {
				return obj
			}
		}
	}
	return nil
}

var severity = map[types.ManagedEntityStatus]int{
	types.ManagedEntityStatusGray: 0, types.ManagedEntityStatusGreen: 1,
	types.ManagedEntityStatusYellow: 2, types.ManagedEntityStatusRed: 3,
}

func triggerAlarm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	status := types.ManagedEntityStatus(q.Get("status"))
	if _, ok := severity[status]; !ok || q.Get("name") == "" {
		http.Error(w, "need name= and status=gray|green|yellow|red", http.StatusBadRequest)
		return
	}
	obj := entityNamed(q.Get("entity"))
	if obj == nil {
		http.Error(w, "no entity "+q.Get("entity"), http.StatusNotFound)
		return
	}
	alarm := alarmNamed(q.Get("name"))
	ack := q.Get("ack") == "1"
	from := types.ManagedEntityStatusGreen
	simulator.Map.WithLock(obj, func() {
		e := obj.Entity()
		var kept []types.AlarmState
		for _, s := range e.TriggeredAlarmState {
			if s.Alarm != alarm.Self {
				kept = append(kept, s)
			} else {
				from = s.OverallStatus
			}
		}
		if status != types.ManagedEntityStatusGreen {
			kept = append(kept, types.AlarmState{
				Key:           alarm.Self.Value + "." + e.Self.Value,
				Entity:        e.Self,
				Alarm:         alarm.Self,
				OverallStatus: status,
				Time:          time.Now(),
				Acknowledged:  &ack,
			})
		}
		e.TriggeredAlarmState = kept
		worst := types.ManagedEntityStatusGreen
		for _, s := range kept {
			if severity[s.OverallStatus] > severity[worst] {
				worst = s.OverallStatus
			}
		}
		e.OverallStatus = worst
	})
	key := int32(0)
	if from != status {
		key = postAlarmEvent(obj, alarm, from, status)
	}
	fmt.Fprintf(w, `{"alarm": %q, "event": %d}`, alarm.Self.Value, key)
}

// postAlarmEvent records the transition as vCenter does, with an AlarmStatusChangedEvent
// (its message worded like vCenter's; the simulator has no template for it).
func postAlarmEvent(obj mo.Entity, alarm *mo.Alarm, from, to types.ManagedEntityStatus) int32 {
	title := func(s types.ManagedEntityStatus) string { return strings.Title(string(s)) }
	e := obj.Entity()
	ev := &types.AlarmStatusChangedEvent{From: string(from), To: string(to)}
	nameEntities(ev.GetEvent(), obj)
	ev.Alarm = types.AlarmEventArgument{EntityEventArgument: types.EntityEventArgument{Name: alarm.Info.Name}, Alarm: alarm.Self}
	ev.Entity = types.ManagedEntityEventArgument{EntityEventArgument: types.EntityEventArgument{Name: e.Name}, Entity: e.Self}
	ev.Source = ev.Entity
	ev.FullFormattedMessage = fmt.Sprintf("Alarm '%s' on %s changed from %s to %s", alarm.Info.Name, e.Name, title(from), title(to))
	m := simulator.Map.EventManager()
	ctx := &simulator.Context{Session: &simulator.Session{UserSession: types.UserSession{UserName: "vcsim-test"}}}
	simulator.Map.WithLock(m, func() {
		m.PostEvent(ctx, &types.PostEvent{EventToPost: ev})
	})
	return ev.Key
}
