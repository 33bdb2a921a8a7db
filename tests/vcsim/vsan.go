package main

// vSAN's health and performance service, served on vCenter's /vsanHealth endpoint
// (namespace urn:vsan) when -vsan is given (vcollect issue 22).
//
// Shapes taken from the API, not guessed: the request and answer types are govmomi's
// generated vsan/types bindings (VsanPerfQuerySpec, VsanPerfEntityMetricCSV,
// VsanPerfMetricSeriesCSV, VsanPerfEntityType, VsanSpaceUsage, VsanClusterHealthSummary,
// VsanHostVsanObjectSyncQueryResult) encoded by the simulator's own SOAP machinery; the
// managed objects' names are the fixed ones of the API reference and of Telegraf's vsan.go
// (vsan-performance-manager, vsan-cluster-space-report-system, vsan-cluster-health-system,
// vsanSystemEx-<n> for host-<n>); the session is the vim25 one (the vmware_soap_session cookie
// of /sdk, as govmomi's NewServiceClient copies it). QueryCmmds answers on each host's
// HostVsanInternalSystem on /sdk (vim25), JSON in a string, as Telegraf's parser reads it.
//
// Shapes guessed (no capture of a real vSAN was at hand):
//   - sampleInfo holds the timestamps oldest first, "2006-01-02 15:04:05" in UTC, comma
//     separated, and each series' values the same count, comma separated (Telegraf's parser
//     indexes values by timestamp position and takes the last timestamp as the newest);
//   - the entity types and labels served are a subset of the classic list (equelin/vsanmetrics
//     entities.md), one per tag rule of Telegraf's populateCMMDSTags; labels are camelCase as
//     the API reference's examples show (iopsRead, latencyAvgWrite);
//   - the UUID part of an entityRefId: a host's vSAN node UUID, a disk's UUID, a VM's
//     instance UUID, "<host uuid>|<name>" for memory slabs and worlds, "<host uuid>|<stack>|
//     <vmk>" for VMkernel NICs, "<host uuid>|<vmnic>" for physical NICs;
//   - startTime is exclusive and endTime inclusive (the API reference says so); samples sit
//     on the -vsan-interval grid and the newest are posted -vsan-lag late (like vCenter's
//     rollups), a host's own entities later still when a test says so (?vsanlag=…&host=H);
//     a spec naming "<type>:u1,u2,..." is answered for those UUIDs when the simulator
//     reports vSAN 8.0 U2 or later (-api-version 8.0.2.0: the API reference says lists of
//     up to 400 UUIDs came with 8.0 U2); before, the list is one UUID no entity has;
//   - a cluster without vSAN, or an unknown entity type, answers the fault NotFound (Telegraf
//     reads "ServerFaultCode: NotFound" as "performance service off").
//
// A value depends only on (entity, label, timestamp), so a re-query returns the same sample.
// /vcsim/calls counts the calls per method under "Vsan", and the specs of VsanPerfQueryPerf
// by what they name: "spec:*", "spec:uuid" (one), "spec:uuids" (a list).

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	vsanmethods "github.com/vmware/govmomi/vsan/methods"
	vsantypes "github.com/vmware/govmomi/vsan/types"
)

// vsanTypes are the entity types served, with their labels (camelCase, as the API names them).
var vsanTypes = []struct {
	name   string
	labels []string
}{
	{"cluster-domclient", []string{"iopsRead", "throughputRead", "latencyAvgRead", "iopsWrite", "throughputWrite", "latencyAvgWrite", "congestion", "oio"}},
	{"cluster-domcompmgr", []string{"iopsRead", "throughputRead", "latencyAvgRead", "iopsWrite", "throughputWrite", "latencyAvgWrite", "iopsRecWrite", "congestion"}},
	{"host-domclient", []string{"iopsRead", "latencyAvgRead", "iopsWrite", "latencyAvgWrite", "clientCacheHitRate", "clientCacheHits"}},
	{"host-domcompmgr", []string{"iopsRead", "latencyAvgRead", "iopsWrite", "latencyAvgWrite", "oio"}},
	{"cache-disk", []string{"iopsDevRead", "latencyDevRead", "wbFreePct", "aggregateCongestion"}},
	{"capacity-disk", []string{"iopsDevRead", "latencyDevRead", "capacityUsed", "iopsRead"}},
	{"disk-group", []string{"iopsRead", "latencyAvgRead", "wbFreePct", "congestion"}},
	{"virtual-machine", []string{"iopsRead", "throughputRead", "latencyRead", "iopsWrite", "latencyWrite"}},
	{"vsan-host-net", []string{"rxThroughput", "txThroughput", "rxPackets", "txPackets"}},
	{"vsan-vnic-net", []string{"rxThroughput", "txThroughput", "rxPacketsLossRate"}},
	{"vsan-pnic-net", []string{"rxThroughput", "txThroughput", "rxPackets"}},
	{"host-memory-slab", []string{"inUse", "maxSize"}},
	{"lsom-world-cpu", []string{"usage", "readyTime"}},
	{"system-mem", []string{"totalMb", "freeMb"}},
}

type vsanSim struct {
	interval int64 // seconds between samples
	mu       sync.Mutex
	lag      time.Duration
	hostLag  map[string]time.Duration // by host moid
	calls    map[string]int
	multi    bool // a spec may name several UUIDs (vSAN 8.0 U2)
}

var vsanState *vsanSim

// installVsan marks every cluster vSAN-enabled, gives each host a HostVsanInternalSystem
// (QueryCmmds), and registers the /vsanHealth endpoint's managed objects.
func installVsan(s *simulator.Service, interval, lag time.Duration, multi bool) {
	v := &vsanSim{interval: int64(interval.Seconds()), lag: lag, calls: map[string]int{},
		hostLag: map[string]time.Duration{}, multi: multi}
	vsanState = v
	enabled := true
	for _, obj := range simulator.Map.All("ClusterComputeResource") {
		c := obj.(*simulator.ClusterComputeResource)
		if ex, ok := c.ConfigurationEx.(*types.ClusterConfigInfoEx); ok {
			ex.VsanConfigInfo = &types.VsanClusterConfigInfo{Enabled: &enabled}
		}
		log.Printf("vSAN enabled on %s (%s), hosts %v", c.Name, c.Self.Value, c.Host)
	}
	for _, obj := range simulator.Map.All("HostSystem") {
		h := obj.(*simulator.HostSystem)
		ref := types.ManagedObjectReference{Type: "HostVsanInternalSystem", Value: "vsanInternalSystem-" + h.Self.Value}
		simulator.Map.Put(&hostVsanInternal{Self: ref, v: v})
		h.ConfigManager.VsanInternalSystem = &ref
	}
	r := simulator.NewRegistry()
	r.Namespace = "vsan"
	r.Path = "/vsanHealth"
	r.Put(&vsanPerfManager{Self: types.ManagedObjectReference{Type: "VsanPerformanceManager", Value: "vsan-performance-manager"}, v: v})
	r.Put(&vsanSpace{Self: types.ManagedObjectReference{Type: "VsanSpaceReportSystem", Value: "vsan-cluster-space-report-system"}, v: v})
	r.Put(&vsanHealth{Self: types.ManagedObjectReference{Type: "VsanVcClusterHealthSystem", Value: "vsan-cluster-health-system"}, v: v})
	for _, obj := range simulator.Map.All("HostSystem") {
		h := obj.(*simulator.HostSystem)
		n := strings.TrimPrefix(h.Self.Value, "host-")
		r.Put(&vsanSystemEx{Self: types.ManagedObjectReference{Type: "VsanSystemEx", Value: "vsanSystemEx-" + n}, v: v})
	}
	s.RegisterSDK(r)
}

func (v *vsanSim) note(method string) {
	v.mu.Lock()
	v.calls[method]++
	v.mu.Unlock()
}

// snapshot is the "Vsan" entry of /vcsim/calls: calls per method.
func (v *vsanSim) snapshot() map[string]int {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[string]int, len(v.calls))
	for k, n := range v.calls {
		out[k] = n
	}
	return out
}

// setLag sets the lag of every entity (host ""), or of one host's entities.
func (v *vsanSim) setLag(host string, d time.Duration) {
	v.mu.Lock()
	if host == "" {
		v.lag = d
	} else {
		v.hostLag[host] = d
	}
	v.mu.Unlock()
}

// apiAtLeast: whether an apiVersion ("8.0.2.0") is major.minor.update or later.
func apiAtLeast(version string, want ...int) bool {
	parts := strings.Split(version, ".")
	for i, w := range want {
		n := 0
		if i < len(parts) {
			if _, err := fmt.Sscanf(parts[i], "%d", &n); err != nil {
				return false
			}
		}
		if n != w {
			return n > w
		}
	}
	return true
}

// vsanUUID is a stable UUID-shaped id for a name (a vSAN node, disk or VM UUID).
func vsanUUID(kind, name string) string {
	h := fnv.New64a()
	h.Write([]byte(kind + "/" + name))
	x := h.Sum64()
	return fmt.Sprintf("5%07x-%04x-%04x-%04x-%012x", uint32(x>>36), uint16(x>>20), uint16(x>>4), uint16(x), x&0xffffffffffff)
}

// vsanEntity is one entity of a type: its UUID part and the host it is on ("" for the
// cluster's own).
type vsanEntity struct{ uuid, host string }

// clusterHosts is the cluster's hosts, by name order.
func clusterHosts(cluster types.ManagedObjectReference) ([]*simulator.HostSystem, bool) {
	c, ok := simulator.Map.Get(cluster).(*simulator.ClusterComputeResource)
	if !ok {
		return nil, false
	}
	var out []*simulator.HostSystem
	for _, ref := range c.Host {
		if h, ok := simulator.Map.Get(ref).(*simulator.HostSystem); ok {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, true
}

// disks of a host: one cache disk and two capacity disks (a hybrid disk group).
func hostDisks(h *simulator.HostSystem) (cache string, capacity []string) {
	return vsanUUID("disk", h.Name+"/cache"), []string{vsanUUID("disk", h.Name+"/cap0"), vsanUUID("disk", h.Name+"/cap1")}
}

// entities of a type in a cluster.
func vsanEntities(kind string, cluster types.ManagedObjectReference) []vsanEntity {
	hosts, _ := clusterHosts(cluster)
	var out []vsanEntity
	on := ""
	add := func(s string) { out = append(out, vsanEntity{uuid: s, host: on}) }
	switch kind {
	case "cluster-domclient", "cluster-domcompmgr":
		add(vsanUUID("cluster", cluster.Value))
	case "virtual-machine":
		for _, h := range hosts {
			on = h.Self.Value
			for _, vm := range h.Vm {
				add(vsanUUID("vm", vm.Value))
			}
		}
	}
	for _, h := range hosts {
		on = h.Self.Value
		node := vsanUUID("host", h.Self.Value)
		cache, capacity := hostDisks(h)
		switch kind {
		case "host-domclient", "host-domcompmgr", "vsan-host-net", "system-mem":
			add(node)
		case "cache-disk", "disk-group":
			add(cache)
		case "capacity-disk":
			for _, c := range capacity {
				add(c)
			}
		case "vsan-vnic-net":
			add(node + "|defaultTcpipStack|vmk1")
		case "vsan-pnic-net":
			add(node + "|vmnic0")
			add(node + "|vmnic1")
		case "host-memory-slab":
			add(node + "|LSOM_slab")
			add(node + "|DOM_slab")
		case "lsom-world-cpu":
			add(node + "|LSOM_Worker")
		}
	}
	return out
}

func vsanLabels(kind string) ([]string, bool) {
	for _, t := range vsanTypes {
		if t.name == kind {
			return t.labels, true
		}
	}
	return nil, false
}

func vsanValue(entity, label string, ts int64) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%s/%d", entity, label, ts)
	x := h.Sum32() % 100000
	if strings.Contains(strings.ToLower(label), "latency") || strings.HasSuffix(label, "Rate") {
		return fmt.Sprintf("%d.%03d", x/1000, x%1000)
	}
	return fmt.Sprintf("%d", x)
}

// faultBody answers a SOAP fault from any method.
type faultBody struct{ Fault_ *soap.Fault }

func (b *faultBody) Fault() *soap.Fault { return b.Fault_ }

// notFound is the fault vSAN answers for a cluster without vSAN or an unknown entity type
// (guessed: Telegraf only shows that its text is "ServerFaultCode: NotFound").
func notFound(msg string) soap.HasFault {
	return &faultBody{Fault_: simulator.Fault(msg, &types.NotFound{})}
}

type vsanPerfManager struct {
	Self types.ManagedObjectReference
	v    *vsanSim
}

func (m *vsanPerfManager) Reference() types.ManagedObjectReference { return m.Self }

func (m *vsanPerfManager) VsanPerfGetSupportedEntityTypes(req *vsantypes.VsanPerfGetSupportedEntityTypes) soap.HasFault {
	m.v.note("VsanPerfGetSupportedEntityTypes")
	var out []vsantypes.VsanPerfEntityType
	for _, t := range vsanTypes {
		var ids []vsantypes.VsanPerfMetricId
		for _, l := range t.labels {
			ids = append(ids, vsantypes.VsanPerfMetricId{Label: l})
		}
		out = append(out, vsantypes.VsanPerfEntityType{Name: t.name, Id: t.name,
			Graphs: []vsantypes.VsanPerfGraph{{Id: t.name, Metrics: ids, Unit: "number"}}})
	}
	return &vsanmethods.VsanPerfGetSupportedEntityTypesBody{Res: &vsantypes.VsanPerfGetSupportedEntityTypesResponse{Returnval: out}}
}

// grid is the sample timestamps in (start, end], capped at the newest posted one of the
// entities of host ("" for the cluster's own).
func (v *vsanSim) grid(start, end time.Time, host string) []int64 {
	v.mu.Lock()
	lag := v.lag
	if l, ok := v.hostLag[host]; ok && host != "" {
		lag = l
	}
	v.mu.Unlock()
	newest := time.Now().Add(-lag).Unix()
	newest -= newest % v.interval
	last := end.Unix()
	if last > newest {
		last = newest
	}
	last -= last % v.interval
	first := start.Unix() - start.Unix()%v.interval + v.interval
	var out []int64
	for t := first; t <= last; t += v.interval {
		out = append(out, t)
	}
	return out
}

func (m *vsanPerfManager) VsanPerfQueryPerf(req *vsantypes.VsanPerfQueryPerf) soap.HasFault {
	m.v.note("VsanPerfQueryPerf")
	if req.Cluster == nil {
		return notFound("no cluster")
	}
	if _, ok := clusterHosts(*req.Cluster); !ok {
		return notFound("not a vSAN cluster: " + req.Cluster.Value)
	}
	var out []vsantypes.VsanPerfEntityMetricCSV
	for _, spec := range req.QuerySpecs {
		parts := strings.SplitN(spec.EntityRefId, ":", 2)
		labels, ok := vsanLabels(parts[0])
		if !ok || len(parts) != 2 || spec.StartTime == nil || spec.EndTime == nil {
			return notFound("bad entityRefId or times: " + spec.EntityRefId)
		}
		want := map[string]bool{}
		switch {
		case parts[1] == "*":
			m.v.note("spec:*")
		case strings.Contains(parts[1], ","):
			m.v.note("spec:uuids")
			if len(strings.Split(parts[1], ",")) > 400 {
				return notFound("more than 400 UUIDs: " + spec.EntityRefId)
			}
			if !m.v.multi {
				want[parts[1]] = true // before 8.0 U2: one UUID, which no entity has
				break
			}
			for _, u := range strings.Split(parts[1], ",") {
				want[u] = true
			}
		default:
			m.v.note("spec:uuid")
			want[parts[1]] = true
		}
		for _, e := range vsanEntities(parts[0], *req.Cluster) {
			if len(want) > 0 && !want[e.uuid] {
				continue
			}
			grid := m.v.grid(*spec.StartTime, *spec.EndTime, e.host)
			var stamps []string
			for _, t := range grid {
				stamps = append(stamps, time.Unix(t, 0).UTC().Format("2006-01-02 15:04:05"))
			}
			ref := parts[0] + ":" + e.uuid
			em := vsantypes.VsanPerfEntityMetricCSV{EntityRefId: ref, SampleInfo: strings.Join(stamps, ",")}
			for _, l := range labels {
				vals := make([]string, len(grid))
				for i, t := range grid {
					vals[i] = vsanValue(ref, l, t)
				}
				em.Value = append(em.Value, vsantypes.VsanPerfMetricSeriesCSV{
					MetricId: vsantypes.VsanPerfMetricId{Label: l, Group: parts[0], RollupType: "average", StatsType: "absolute",
						MetricsCollectInterval: int32(m.v.interval)},
					Values: strings.Join(vals, ","),
				})
			}
			out = append(out, em)
		}
	}
	return &vsanmethods.VsanPerfQueryPerfBody{Res: &vsantypes.VsanPerfQueryPerfResponse{Returnval: out}}
}

type vsanSpace struct {
	Self types.ManagedObjectReference
	v    *vsanSim
}

func (m *vsanSpace) Reference() types.ManagedObjectReference { return m.Self }

// VsanQuerySpaceUsage: 2 TiB of raw capacity per host, a third used.
func (m *vsanSpace) VsanQuerySpaceUsage(req *vsantypes.VsanQuerySpaceUsage) soap.HasFault {
	m.v.note("VsanQuerySpaceUsage")
	hosts, ok := clusterHosts(req.Cluster)
	if !ok {
		return notFound("not a vSAN cluster")
	}
	total := int64(len(hosts)) * (2 << 40)
	return &vsanmethods.VsanQuerySpaceUsageBody{Res: &vsantypes.VsanQuerySpaceUsageResponse{
		Returnval: vsantypes.VsanSpaceUsage{TotalCapacityB: total, FreeCapacityB: total - total/3}}}
}

type vsanHealth struct {
	Self types.ManagedObjectReference
	v    *vsanSim
}

func (m *vsanHealth) Reference() types.ManagedObjectReference { return m.Self }

// VsanQueryVcClusterHealthSummary: "yellow" (the simulator's resync below is running).
func (m *vsanHealth) VsanQueryVcClusterHealthSummary(req *vsantypes.VsanQueryVcClusterHealthSummary) soap.HasFault {
	m.v.note("VsanQueryVcClusterHealthSummary")
	if req.Cluster == nil {
		return notFound("no cluster")
	}
	if _, ok := clusterHosts(*req.Cluster); !ok {
		return notFound("not a vSAN cluster")
	}
	now := time.Now()
	return &vsanmethods.VsanQueryVcClusterHealthSummaryBody{Res: &vsantypes.VsanQueryVcClusterHealthSummaryResponse{
		Returnval: vsantypes.VsanClusterHealthSummary{Timestamp: &now, OverallHealth: "yellow",
			OverallHealthDescription: "Resync in progress"}}}
}

type vsanSystemEx struct {
	Self types.ManagedObjectReference
	v    *vsanSim
}

func (m *vsanSystemEx) Reference() types.ManagedObjectReference { return m.Self }

// VsanQuerySyncingVsanObjects: the summary only (Telegraf asks no UUIDs): 3 objects, 12 GiB, 10 min.
func (m *vsanSystemEx) VsanQuerySyncingVsanObjects(req *vsantypes.VsanQuerySyncingVsanObjects) soap.HasFault {
	m.v.note("VsanQuerySyncingVsanObjects")
	return &vsanmethods.VsanQuerySyncingVsanObjectsBody{Res: &vsantypes.VsanQuerySyncingVsanObjectsResponse{
		Returnval: vsantypes.VsanHostVsanObjectSyncQueryResult{TotalObjectsToSync: 3, TotalBytesToSync: 12 << 30, TotalRecoveryETA: 600}}}
}

// hostVsanInternal is a host's HostVsanInternalSystem on /sdk: QueryCmmds only.
type hostVsanInternal struct {
	Self types.ManagedObjectReference
	v    *vsanSim
}

func (m *hostVsanInternal) Reference() types.ManagedObjectReference { return m.Self }

type cmmdsEntry struct {
	UUID    string                 `json:"uuid"`
	Owner   string                 `json:"owner"`
	Type    string                 `json:"type"`
	Content map[string]interface{} `json:"content"`
}

// QueryCmmds answers HOSTNAME and DISK entries of every host of the vSAN cluster (the
// whole cluster's directory, as any member's CMMDS holds it).
func (m *hostVsanInternal) QueryCmmds(req *types.QueryCmmds) soap.HasFault {
	m.v.note("QueryCmmds")
	var cluster *types.ManagedObjectReference
	for _, obj := range simulator.Map.All("HostSystem") {
		h := obj.(*simulator.HostSystem)
		if h.ConfigManager.VsanInternalSystem != nil && *h.ConfigManager.VsanInternalSystem == m.Self && h.Parent != nil {
			p := *h.Parent
			cluster = &p
		}
	}
	var res []cmmdsEntry
	if cluster != nil {
		hosts, _ := clusterHosts(*cluster)
		for i, h := range hosts {
			node := vsanUUID("host", h.Self.Value)
			res = append(res, cmmdsEntry{UUID: node, Owner: node, Type: "HOSTNAME", Content: map[string]interface{}{"hostname": h.Name}})
			cache, capacity := hostDisks(h)
			res = append(res, cmmdsEntry{UUID: cache, Owner: node, Type: "DISK", Content: map[string]interface{}{
				"devName": fmt.Sprintf("naa.5000c500%08x:2", i*16), "isSsd": 1, "ssdUuid": cache}})
			for j, c := range capacity {
				res = append(res, cmmdsEntry{UUID: c, Owner: node, Type: "DISK", Content: map[string]interface{}{
					"devName": fmt.Sprintf("naa.5000c500%08x:1", i*16+j+1), "isSsd": 0, "ssdUuid": cache}})
			}
		}
	}
	doc, _ := json.Marshal(map[string]interface{}{"result": res})
	return &methods.QueryCmmdsBody{Res: &types.QueryCmmdsResponse{Returnval: string(doc)}}
}
