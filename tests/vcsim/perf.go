package main

// realPerf replaces the govmomi simulator's QueryPerf with one that answers the way a real
// vCenter does where it matters to a collector (facts recorded from vCenter 9.0.1, see
// vcollect issue 8):
//
//   - instance "*" expands into the aggregate ("") plus per-device series, and some groups
//     have no aggregate (virtualDisk.*, storageAdapter.*, datastore.*) while others have only
//     the aggregate (mem.*, sys.*, power.*, cpu.usage.*);
//   - counters without data for the entity are absent from the answer (not zeros);
//   - samples sit on the 20-s grid, after startTime (the one at startTime is not returned:
//     the API reference's PerfQuerySpec.startTime is exclusive) up to endTime included, none
//     older than the one-hour realtime retention;
//   - clusters, datastores, datacenters and resource pools have historical statistics only,
//     at the first historical interval (PerformanceManager.historicalInterval, 300 s unless
//     -historical-interval says otherwise), on that grid, kept for a day, posted late by
//     -historical-lag; asked at another interval, they answer nothing;
//   - the newest samples are held back by a lag (global or per host), like vCenter posting
//     samples late;
//   - a spec asking format "csv" is answered as PerfEntityMetricCSV ("interval,timestamp,..."
//     once per entity, "v1,v2,..." per series);
//   - a host can be "out" (disconnected): nothing newer than the moment it went out is
//     answered for it and its VMs until it is back, then its whole last hour is there again.
//
// A value depends only on (entity, counter, instance, timestamp), so a re-query returns the
// same sample, as vCenter does.

import (
	"fmt"
	"hash/fnv"
	"log"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/vpx"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	realtimeInterval    = 20
	realtimeRetention   = 3600
	historicalRetention = 86400
)

type realPerf struct {
	// By value, not pointer: the property collector digs the mo type out of the first field.
	simulator.PerformanceManager

	names map[int32]string // counter key -> "group.name"

	historical int64 // the first historical interval's sampling period, seconds

	mu      sync.Mutex
	hlag    time.Duration // how late historical samples are posted
	lag     time.Duration
	hostLag map[string]time.Duration
	out     map[string]int64 // host moid -> newest sample (unix s) answered while it is out
	shapes  map[string]*shape
	calls   map[string]map[string]int // method -> entity type -> count (available.go)

	limits limits // maxQueryMetrics (limits.go)

	delay       time.Duration // each performance call takes at least this long (load.go)
	perSeries   time.Duration // and a QueryPerf call this much more per series answered
	inflight    int
	maxInflight int
	costCalls   int
	costSeries  int
	busy        time.Duration // the simulated vCenter time of all calls

	front *front // what stands before vpxd (front.go), for /vcsim/calls
}

// shape is what an entity has: its host and its devices.
type shape struct {
	host string // the entity's host moid (itself for a host)
	cpus int
	nics []string
	ds   string
}

// installRealPerf replaces the registry's PerformanceManager with realPerf.
func installRealPerf(lag time.Duration, historical int64, hlag time.Duration, l limits, delay, perSeries time.Duration) *realPerf {
	ref := types.ManagedObjectReference{Type: "PerformanceManager", Value: "PerfMgr"}
	pm, ok := simulator.Map.Get(ref).(*simulator.PerformanceManager)
	if !ok {
		log.Fatalf("the model has no PerformanceManager %v", ref)
	}
	names := make(map[int32]string, len(pm.PerfCounter))
	for _, c := range pm.PerfCounter {
		names[c.Key] = c.GroupInfo.GetElementDescription().Key + "." + c.NameInfo.GetElementDescription().Key
	}
	rp := &realPerf{
		PerformanceManager: *pm,
		names:              names,
		historical:         historical,
		hlag:               hlag,
		lag:                lag,
		hostLag:            map[string]time.Duration{},
		out:                map[string]int64{},
		shapes:             map[string]*shape{},
		limits:             l,
		delay:              delay,
		perSeries:          perSeries,
	}
	// vCenter's four default levels; only the first one's period matters to a collector.
	rp.HistoricalInterval = []types.PerfInterval{
		{Key: 1, SamplingPeriod: int32(historical), Name: "Past day", Length: historicalRetention, Level: 1, Enabled: true},
		{Key: 2, SamplingPeriod: 1800, Name: "Past week", Length: 604800, Level: 1, Enabled: true},
		{Key: 3, SamplingPeriod: 7200, Name: "Past month", Length: 2592000, Level: 1, Enabled: true},
		{Key: 4, SamplingPeriod: 86400, Name: "Past year", Length: 31536000, Level: 1, Enabled: true},
	}
	simulator.Map.Put(rp)
	return rp
}

func (p *realPerf) shapeOf(ref types.ManagedObjectReference) *shape {
	p.mu.Lock()
	s, ok := p.shapes[ref.Value]
	p.mu.Unlock()
	if ok {
		return s
	}
	s = &shape{host: ref.Value}
	switch obj := simulator.Map.Get(ref).(type) {
	case *simulator.VirtualMachine:
		if obj.Runtime.Host != nil {
			s.host = obj.Runtime.Host.Value
		}
		s.cpus = int(obj.Summary.Config.NumCpu)
		s.nics = []string{"4000"}
		if len(obj.Datastore) > 0 {
			s.ds = obj.Datastore[0].Value
		}
	case *simulator.HostSystem:
		if obj.Hardware != nil {
			s.cpus = int(obj.Hardware.CpuInfo.NumCpuThreads)
		}
		s.nics = []string{"vmnic0", "vmnic1"}
		if len(obj.Datastore) > 0 {
			s.ds = obj.Datastore[0].Value
		}
	}
	p.mu.Lock()
	p.shapes[ref.Value] = s
	p.mu.Unlock()
	return s
}

// instances lists the series a counter has on an entity, as vCenter answers instance "*".
func (p *realPerf) instances(kind string, s *shape, name string) []string {
	if kind != "VirtualMachine" && kind != "HostSystem" {
		return []string{""}
	}
	group := name[:strings.IndexByte(name, '.')]
	switch {
	case group == "cpu" && name != "cpu.usage":
		out := []string{""}
		for i := 0; i < s.cpus; i++ {
			out = append(out, strconv.Itoa(i))
		}
		return out
	case group == "net":
		return append([]string{""}, s.nics...)
	case group == "virtualDisk":
		return []string{"scsi0:0"}
	case group == "disk" && name != "disk.maxTotalLatency":
		return []string{"", "mpx.vmhba0:C0:T0:L0"}
	case group == "datastore" && s.ds != "":
		return []string{s.ds}
	case group == "storageAdapter":
		return []string{"vmhba0", "vmhba1"}
	}
	return []string{""}
}

// newest is the newest realtime sample vCenter has for an entity of host `host` at `now`.
func (p *realPerf) newest(host string, now time.Time) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	lag, ok := p.hostLag[host]
	if !ok {
		lag = p.lag
	}
	n := floor(now.Add(-lag).Unix(), realtimeInterval)
	if frozen, out := p.out[host]; out && frozen < n {
		n = frozen
	}
	return n
}

// newestHistorical is the newest historical sample vCenter has posted at `now`.
func (p *realPerf) newestHistorical(now time.Time) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return floor(now.Add(-p.hlag).Unix(), p.historical)
}

// cadence is the grid and retention of the statistics asked for, or ok=false when the entity
// has none at that interval (as vCenter: realtime for VMs and hosts only).
func (p *realPerf) cadence(kind string, intervalID int32) (step, retention int64, ok bool) {
	realtime := kind == "VirtualMachine" || kind == "HostSystem"
	switch {
	case realtime && (intervalID == 0 || intervalID == realtimeInterval):
		return realtimeInterval, realtimeRetention, true
	case int64(intervalID) == p.historical || (!realtime && intervalID == 0):
		return p.historical, historicalRetention, true
	}
	return 0, 0, false
}

func floor(t, step int64) int64 { return t - ((t%step)+step)%step }

func ceil(t, step int64) int64 { return -floor(-t, step) }

func (p *realPerf) QueryPerf(ctx *simulator.Context, req *types.QueryPerf) soap.HasFault {
	body := new(methods.QueryPerfBody)
	body.Req = req
	body.Res = new(types.QueryPerfResponse)
	done := p.begin()
	series := 0
	defer func() { done(series) }()
	now := time.Now()
	for _, qs := range req.QuerySpec {
		if simulator.Map.Get(qs.Entity) == nil {
			p.count("ManagedObjectNotFound", qs.Entity.Type)
			body.Fault_ = simulator.Fault(goneMessage(qs.Entity), &types.ManagedObjectNotFound{Obj: qs.Entity})
			return body
		}
	}
	if f := lost.refuses(req.QuerySpec); f != nil {
		p.count("HostNotConnected", "QueryPerf")
		body.Fault_ = simulator.Fault(hostNotConnectedMessage, f)
		return body
	}
	if f := p.limits.refuses(req.QuerySpec); f != nil {
		p.count("RestrictedByAdministrator", "QueryPerf")
		body.Fault_ = simulator.Fault(restrictedMessage, f)
		return body
	}
	for _, qs := range req.QuerySpec {
		p.count("QueryPerf", qs.Entity.Type)
		data, ok := vpx.MetricData[qs.Entity.Type]
		if !ok {
			body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "Entity"})
			return body
		}
		m := p.entity(qs, data, now)
		switch {
		case m == nil:
		case qs.Format == string(types.PerfFormatCsv):
			series += len(m.Value)
			body.Res.Returnval = append(body.Res.Returnval, toCSV(m))
		default:
			series += len(m.Value)
			body.Res.Returnval = append(body.Res.Returnval, m)
		}
	}
	return body
}

// entity answers one spec, or nil when vCenter would have nothing for it.
func (p *realPerf) entity(qs types.PerfQuerySpec, data map[int32][]int64, now time.Time) *types.PerfEntityMetric {
	step, retention, ok := p.cadence(qs.Entity.Type, qs.IntervalId)
	if !ok {
		return nil
	}
	s := p.shapeOf(qs.Entity)
	newest := p.newest(s.host, now)
	if step != realtimeInterval {
		newest = p.newestHistorical(now)
	}
	first := ceil(now.Unix()-retention, step)
	if qs.StartTime != nil {
		if st := floor(qs.StartTime.Unix(), step) + step; st > first {
			first = st // startTime is exclusive
		}
	}
	last := newest
	if qs.EndTime != nil {
		if e := floor(qs.EndTime.Unix(), step); e < last {
			last = e
		}
	}
	if last < first {
		return nil
	}
	n := int((last-first)/step) + 1
	limit := int(qs.MaxSample)
	if limit <= 0 && qs.StartTime == nil && qs.EndTime == nil {
		limit = 1 // without times or maxSample, vCenter answers the newest sample only
	}
	if limit > 0 && limit < n {
		first = last - int64(limit-1)*step
		n = limit
	}
	m := &types.PerfEntityMetric{}
	m.Entity = qs.Entity
	for i := 0; i < n; i++ {
		ts := time.Unix(first+int64(i)*step, 0).UTC()
		m.SampleInfo = append(m.SampleInfo, types.PerfSampleInfo{Timestamp: ts, Interval: int32(step)})
	}
	for _, mid := range qs.MetricId {
		points := data[mid.CounterId]
		name, known := p.names[mid.CounterId]
		if len(points) == 0 || !known {
			continue // no data: absent from the answer
		}
		for _, inst := range p.instances(qs.Entity.Type, s, name) {
			if mid.Instance != "*" && mid.Instance != inst {
				continue
			}
			series := &types.PerfMetricIntSeries{Value: make([]int64, n)}
			series.Id = types.PerfMetricId{CounterId: mid.CounterId, Instance: inst}
			seed := int64(hash(qs.Entity.Value, inst) % uint32(len(points)))
			for i := range series.Value {
				t := (first / step) + int64(i)
				v := points[(t+seed)%int64(len(points))]
				if v == 0 {
					// govmomi's XML encoder drops the zero elements of an int64 array
					// (omitempty applies per element), which shifts the rest of the series
					// onto the wrong timestamps. A real vCenter sends the 0; serve 1.
					v = 1
				}
				series.Value[i] = v
			}
			m.Value = append(m.Value, series)
		}
	}
	if len(m.Value) == 0 {
		return nil
	}
	return m
}

// toCSV is m in the csv format a spec asked for: "interval,timestamp,..." once per entity
// and "v1,v2,..." per series, as vCenter answers format "csv".
func toCSV(m *types.PerfEntityMetric) *types.PerfEntityMetricCSV {
	info := make([]string, 0, 2*len(m.SampleInfo))
	for _, si := range m.SampleInfo {
		info = append(info, strconv.Itoa(int(si.Interval)), si.Timestamp.Format(time.RFC3339))
	}
	out := &types.PerfEntityMetricCSV{SampleInfoCSV: strings.Join(info, ",")}
	out.Entity = m.Entity
	for _, v := range m.Value {
		series := v.(*types.PerfMetricIntSeries)
		vals := make([]string, len(series.Value))
		for i, x := range series.Value {
			vals[i] = strconv.FormatInt(x, 10)
		}
		csv := types.PerfMetricSeriesCSV{Value: strings.Join(vals, ",")}
		csv.Id = series.Id
		out.Value = append(out.Value, csv)
	}
	return out
}

func hash(parts ...string) uint32 {
	h := fnv.New32a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum32()
}

// hostRef finds a host by moid or name.
func hostRef(id string) (string, bool) {
	for _, obj := range simulator.Map.All("HostSystem") {
		h := obj.(*simulator.HostSystem)
		if h.Self.Value == id || h.Name == id {
			return h.Self.Value, true
		}
	}
	return "", false
}

// control serves /vcsim/control, for tests to change behaviour at run time:
//
//	?lag=40s             the lag of every host without its own
//	?lag=2m&host=H       the lag of host H (moid or name) and its VMs
//	?out=1&host=H        host H goes out: nothing newer than now is answered for it
//	?out=0&host=H        host H is back: its whole last hour is answered again
//	?hlag=40m            historical samples are posted this late
//	?vsanlag=5m          vSAN samples are posted this late (vsan.go)
//	?vsanlag=10m&host=H  the vSAN samples of host H's entities (its disks, NICs, VMs …)
//	?destroy=3           delete 3 powered-on VMs (limits.go)
//	?disconnect=1&host=H host H and its VMs disconnected: their calls fail (hoststate.go)
//	?inflight=reset      start a new maximum of calls in flight (load.go)
func (p *realPerf) control(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	host := ""
	if h := q.Get("host"); h != "" {
		ref, ok := hostRef(h)
		if !ok {
			http.Error(w, fmt.Sprintf("no host %q", h), http.StatusNotFound)
			return
		}
		host = ref
	}
	if v := q.Get("lag"); v != "" {
		lag, err := time.ParseDuration(v)
		if err != nil {
			http.Error(w, "lag: "+err.Error(), http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		if host == "" {
			p.lag = lag
		} else {
			p.hostLag[host] = lag
		}
		p.mu.Unlock()
	}
	if v := q.Get("hlag"); v != "" {
		hlag, err := time.ParseDuration(v)
		if err != nil {
			http.Error(w, "hlag: "+err.Error(), http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.hlag = hlag
		p.mu.Unlock()
	}
	if v := q.Get("vsanlag"); v != "" && vsanState != nil {
		d, err := time.ParseDuration(v)
		if err != nil {
			http.Error(w, "vsanlag: "+err.Error(), http.StatusBadRequest)
			return
		}
		vsanState.setLag(host, d)
	}
	if v := q.Get("inflight"); v != "" {
		if !p.controlInflight(w, v) {
			return
		}
	}
	if v := q.Get("disconnect"); v != "" {
		if !controlDisconnect(w, host, v) {
			return
		}
	}
	if v := q.Get("destroy"); v != "" {
		if !controlDestroy(w, v) {
			return
		}
	}
	if v := q.Get("out"); v != "" {
		if host == "" {
			http.Error(w, "out needs host", http.StatusBadRequest)
			return
		}
		if v == "1" {
			frozen := p.newest(host, time.Now())
			p.mu.Lock()
			p.out[host] = frozen
			p.mu.Unlock()
		} else {
			p.mu.Lock()
			delete(p.out, host)
			p.mu.Unlock()
		}
	}
	p.mu.Lock()
	fmt.Fprintf(w, "lag=%v hosts_lag=%d hosts_out=%d hlag=%v\n", p.lag, len(p.hostLag), len(p.out), p.hlag)
	p.mu.Unlock()
}
