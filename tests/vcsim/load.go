package main

// What the collectors ask of the simulated vCenter at once, and what it costs vCenter
// (vcollect issue 18): the simulator serves performance calls concurrently, as vCenter does,
// records how many were in flight at most, and makes each call take the time of a latency
// model:
//
//	-perf-delay D            every QueryPerf and QueryAvailablePerfMetric call takes D
//	-perf-cost-per-series C  a QueryPerf call takes C more per series it answers (entity x
//	                         counter x instance)
//
// Where realistic values come from (no vendor figure exists: the research notes found no
// official per-call cost, landscape.md §3): Netdata's documented collection of a small
// inventory took 155 ms end to end, DataDog's batched collection of 4 hosts and 8 VMs under
// 1 s, so about 100 ms per call is vCenter's fixed cost (session check, the perf provider's
// dispatch, the HTTPS round trip through the proxy). Telegraf's README: a complete set of
// realtime metrics (34 VM counters, instances on: about 100 series a VM) for 7,000 VMs in
// under 20 s, with the README's concurrency of VMs/1500 (5): 700,000 series in 100
// call-seconds, about 140 µs a series; vsphere-graphite's 150,000 metrics a minute on one
// connection is 400 µs a metric. So 100 ms + 100 µs a series is the benchmark's model
// (docs/benchmarks.md); both are off by default, so that tests run at full speed.
//
// /vcsim/calls shows {"InFlight": {"now": N, "max": M}} and {"Cost": {"calls": N,
// "series": S, "busy_ms": T}}, T the simulated vCenter time of all calls (sum over calls,
// not wall time); /vcsim/control?inflight=reset starts a new maximum.

import (
	"net/http"
	"time"
)

// Lock and Unlock make realPerf its own sync.Locker, so the simulator's registry does not
// serialize calls on the PerformanceManager (govmomi's Registry.WithLock): its handlers
// guard their shared state with p.mu.
func (p *realPerf) Lock()   {}
func (p *realPerf) Unlock() {}

// begin counts a performance call in flight and returns the function that ends it, which
// waits what the call costs by the model: -perf-delay, plus -perf-cost-per-series times
// the series answered (0 for calls that answer no series).
func (p *realPerf) begin() func(series int) {
	p.mu.Lock()
	p.inflight++
	if p.inflight > p.maxInflight {
		p.maxInflight = p.inflight
	}
	p.mu.Unlock()
	started := time.Now()
	return func(series int) {
		cost := p.delay + time.Duration(series)*p.perSeries
		if left := cost - time.Since(started); left > 0 {
			time.Sleep(left)
		}
		p.mu.Lock()
		p.inflight--
		p.costCalls++
		p.costSeries += series
		p.busy += cost
		p.mu.Unlock()
	}
}

// inflightCalls is the "InFlight" entry of /vcsim/calls. Caller holds p.mu.
func (p *realPerf) inflightCalls() map[string]int {
	return map[string]int{"now": p.inflight, "max": p.maxInflight}
}

// costEntry is the "Cost" entry of /vcsim/calls. Caller holds p.mu.
func (p *realPerf) costEntry() map[string]int {
	return map[string]int{"calls": p.costCalls, "series": p.costSeries, "busy_ms": int(p.busy.Milliseconds())}
}

// controlInflight serves inflight=reset on /vcsim/control.
func (p *realPerf) controlInflight(w http.ResponseWriter, v string) bool {
	if v != "reset" {
		http.Error(w, "inflight: only reset", http.StatusBadRequest)
		return false
	}
	p.mu.Lock()
	p.maxInflight = p.inflight
	p.mu.Unlock()
	return true
}
