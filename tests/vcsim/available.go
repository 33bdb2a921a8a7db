package main

// QueryAvailablePerfMetric as a real vCenter answers it, and a count of the perf calls each
// entity type received, for tests that check a switched-off kind costs nothing.
//
// govmomi's simulator answers QueryAvailablePerfMetric with a fixed list per entity type
// (hundreds of counters, most without data, and the interval ignored for VMs and hosts). A real
// vCenter lists the counter/instance pairs it has for that entity at that interval: the
// counters it would answer QueryPerf with, each with its instances ("" for the aggregate,
// "0", "1" … per CPU, "vmnic0" … per NIC). VMs and hosts have realtime (20 s) and historical
// statistics; clusters, datastores, datacenters and resource pools only historical ones.

import (
	"encoding/json"
	"net/http"
	"sort"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/vpx"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// count adds one call of `method` for an entity of type `ty`.
func (p *realPerf) count(method, ty string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.calls == nil {
		p.calls = map[string]map[string]int{}
	}
	if p.calls[method] == nil {
		p.calls[method] = map[string]int{}
	}
	p.calls[method][ty]++
}

// serveCalls serves GET /vcsim/calls: {"QueryPerf": {"VirtualMachine": 12, …}, …}, the
// number of query specs (QueryPerf) and calls (QueryAvailablePerfMetric) per entity type.
func (p *realPerf) serveCalls(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	all := map[string]map[string]int{"InFlight": p.inflightCalls(), "Cost": p.costEntry()}
	if p.front != nil {
		all["Front"] = p.front.snapshot()
	}
	if vsanState != nil {
		all["Vsan"] = vsanState.snapshot()
	}
	for k, v := range p.calls {
		all[k] = v
	}
	body, err := json.Marshal(all)
	p.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

func (p *realPerf) QueryAvailablePerfMetric(ctx *simulator.Context, req *types.QueryAvailablePerfMetric) soap.HasFault {
	body := new(methods.QueryAvailablePerfMetricBody)
	body.Req = req
	body.Res = new(types.QueryAvailablePerfMetricResponse)
	defer p.begin()(0)
	p.count("QueryAvailablePerfMetric", req.Entity.Type)
	if simulator.Map.Get(req.Entity) == nil {
		body.Fault_ = simulator.Fault("", &types.ManagedObjectNotFound{Obj: req.Entity})
		return body
	}
	data := vpx.MetricData[req.Entity.Type]
	realtime := req.Entity.Type == "VirtualMachine" || req.Entity.Type == "HostSystem"
	if req.IntervalId == realtimeInterval && !realtime {
		return body // no realtime statistics for this type: nothing is available
	}
	keys := make([]int, 0, len(data))
	for k, points := range data {
		if _, known := p.names[k]; known && len(points) > 0 {
			keys = append(keys, int(k))
		}
	}
	sort.Ints(keys)
	s := p.shapeOf(req.Entity)
	for _, k := range keys {
		for _, inst := range p.instances(req.Entity.Type, s, p.names[int32(k)]) {
			body.Res.Returnval = append(body.Res.Returnval, types.PerfMetricId{CounterId: int32(k), Instance: inst})
		}
	}
	return body
}
