package main

// What the collectors ask of the simulated vCenter at once (vcollect issue 18, the
// cluster-wide query budget): the simulator serves performance calls concurrently, as
// vCenter does, each taking at least -perf-delay, and records how many were in flight at
// most. /vcsim/calls shows it as {"InFlight": {"now": N, "max": M}};
// /vcsim/control?inflight=reset starts a new maximum.

import (
	"net/http"
	"time"
)

// Lock and Unlock make realPerf its own sync.Locker, so the simulator's registry does not
// serialize calls on the PerformanceManager (govmomi's Registry.WithLock): its handlers
// guard their shared state with p.mu.
func (p *realPerf) Lock()   {}
func (p *realPerf) Unlock() {}

// begin counts a performance call in flight, waits -perf-delay (vCenter's cost per call),
// and returns the function that ends it.
func (p *realPerf) begin() func() {
	p.mu.Lock()
	p.inflight++
	if p.inflight > p.maxInflight {
		p.maxInflight = p.inflight
	}
	p.mu.Unlock()
	if p.delay > 0 {
		time.Sleep(p.delay)
	}
	return func() {
		p.mu.Lock()
		p.inflight--
		p.mu.Unlock()
	}
}

// inflightCalls is the "InFlight" entry of /vcsim/calls. Caller holds p.mu.
func (p *realPerf) inflightCalls() map[string]int {
	return map[string]int{"now": p.inflight, "max": p.maxInflight}
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
