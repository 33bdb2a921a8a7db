// gocollect: a minimal vSphere collector on govmomi, the yardstick of scripts/compare-go.sh
// (issue 19). It does once what one collection of Telegraf's inputs.vsphere does for VMs and
// hosts (plugins/inputs/vsphere, see /work/shared/research/telegraf_vsphere.md), in the
// simplest faithful form, on the library Telegraf is built on:
//
//   - login with govmomi.NewClient (client.go);
//   - discovery: one recursive ContainerView on the root folder and the PropertyCollector
//     (finder.go's `**` case), the properties populateTags reads; powered-off VMs skipped;
//   - counter names to ids through PerformanceManager.perfCounter (CounterInfoByName: the
//     "simple" selection of an explicit include list), instance "*";
//   - one PerfQuerySpec per entity (intervalId 20, format normal, all its metric ids), the
//     specs cut into QueryPerf calls of at most 50,000 metric ids (chunkify's realtime rule,
//     maxRealtimeMetrics; max_query_objects/max_query_metrics do not apply to realtime kinds),
//     sent one after another (collect_concurrency = 1) through performance.Manager.Query and
//     converted by ToMetricSeries;
//   - collectChunk's points: one per (measurement, instance, timestamp), measurement
//     vsphere_<kind>_<group>, field <name>_<rollup>, negative values dropped, percent
//     counters /100 as floats, the rest integers; tags vcenter, source, moid, the kind's name
//     tag, clustername, dcname, esxhostname, rpname, uuid, guest, guesthostname and
//     populateTags' instance tag; a VM's string field memorySizeMB on each of its points;
//   - line protocol POSTed to InfluxDB's /write in batches of 1,000 lines (metric_batch_size),
//     gzipped (outputs.influxdb's content_encoding = "gzip").
//
// Left out: the window is the one `vcollect once` asks for, (vCenter's time on the 20-s grid
// - lookback, that time], not Telegraf's high-water marks and maxSample 10; no alignSamples
// averaging (the identity at interval = 20s); no CurrentTime check before each call, no
// inventory paths, custom attributes, memoryReservation or self-metrics; and none of
// Telegraf's agent pipeline (metric objects, channels, output buffer), so Telegraf itself
// costs more than this.
//
// At the end it prints one line of JSON on stdout: samples and lines written, calls, and its
// own CPU time (getrusage).
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/performance"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// maxRealtimeMetrics is Telegraf's cut for realtime calls (endpoint.go).
const maxRealtimeMetrics = 50000

// entity is what a point's tags need of a discovered VM or host.
type entity struct {
	kind string // "vm" or "host"
	ref  types.ManagedObjectReference
	tags map[string]string
	// extra is the string fields Telegraf adds to every point of a VM (memorySizeMB).
	extra []string
}

// writer batches lines and POSTs them to InfluxDB.
type writer struct {
	url, db   string
	batch     int
	gzip      bool
	buf       bytes.Buffer
	lines     int
	written   int
	bytesSent int
}

func main() {
	vc := flag.String("url", "", "vCenter SDK URL with user:password")
	influx := flag.String("influx", "", "InfluxDB base URL")
	db := flag.String("db", "vsphere", "InfluxDB database")
	lookback := flag.Duration("lookback", 5*time.Minute, "window: the last this long before vCenter's time on the 20-s grid")
	vmCounters := flag.String("vm-counters", "", "comma-separated VM counter names")
	hostCounters := flag.String("host-counters", "", "comma-separated host counter names")
	batch := flag.Int("batch", 1000, "lines per write (Telegraf's metric_batch_size)")
	gz := flag.Bool("gzip", true, "gzip the writes (outputs.influxdb's content_encoding = \"gzip\")")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile (runtime/pprof) to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatalf("cpuprofile: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatalf("cpuprofile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}

	ctx := context.Background()
	u, err := url.Parse(*vc)
	if err != nil {
		log.Fatalf("url: %v", err)
	}
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		log.Fatalf("login: %v", err)
	}
	defer func() { _ = c.Logout(ctx) }()

	entities, err := discover(ctx, c)
	if err != nil {
		log.Fatalf("discovery: %v", err)
	}
	perf := performance.NewManager(c.Client)
	byName, err := perf.CounterInfoByName(ctx)
	if err != nil {
		log.Fatalf("counters: %v", err)
	}
	ids := map[string][]types.PerfMetricId{
		"vm":   metricIDs(byName, *vmCounters),
		"host": metricIDs(byName, *hostCounters),
	}
	now, err := methods.GetCurrentTime(ctx, c.Client)
	if err != nil {
		log.Fatalf("CurrentTime: %v", err)
	}
	end := now.Truncate(20 * time.Second)
	start := end.Add(-*lookback)
	maxSample := int32(*lookback/(20*time.Second)) + 1

	w := &writer{url: *influx, db: *db, batch: *batch, gzip: *gz}
	vcenter := u.Host
	samples, calls := 0, 0
	for _, kind := range []string{"host", "vm"} {
		for _, chunk := range chunks(entities, kind, ids[kind], start, end, maxSample) {
			calls++
			res, err := perf.Query(ctx, chunk)
			if err != nil {
				log.Fatalf("QueryPerf: %v", err)
			}
			series, err := perf.ToMetricSeries(ctx, res)
			if err != nil {
				log.Fatalf("ToMetricSeries: %v", err)
			}
			for _, em := range series {
				e := entities[em.Entity.Value]
				samples += points(w, vcenter, e, em, byName, start)
			}
		}
	}
	if err := w.flush(); err != nil {
		log.Fatalf("write: %v", err)
	}
	report(samples, w, calls, len(entities))
}

// discover reads VMs and hosts with what their tags need, and the names and parents of
// everything above them (clusters, folders, datacenters, resource pools).
func discover(ctx context.Context, c *govmomi.Client) (map[string]*entity, error) {
	m := view.NewManager(c.Client)
	v, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder, nil, true)
	if err != nil {
		return nil, err
	}
	defer func() { _ = v.Destroy(ctx) }()
	var others []mo.ManagedEntity
	kinds := []string{"Folder", "Datacenter", "ComputeResource", "ClusterComputeResource", "ResourcePool", "VirtualApp"}
	if err := v.Retrieve(ctx, kinds, []string{"name", "parent"}, &others); err != nil {
		return nil, err
	}
	var hosts []mo.HostSystem
	if err := v.Retrieve(ctx, []string{"HostSystem"}, []string{"name", "parent"}, &hosts); err != nil {
		return nil, err
	}
	var vms []mo.VirtualMachine
	vmProps := []string{"name", "runtime.host", "runtime.powerState", "config.guestId", "config.uuid", "guest.guestId", "guest.hostName", "resourcePool", "summary.config.memorySizeMB"}
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, vmProps, &vms); err != nil {
		return nil, err
	}
	up := map[string]mo.ManagedEntity{}
	for _, o := range others {
		up[o.Self.Value] = o
	}
	// dcname: the first Datacenter up the parent chain.
	dc := func(ref *types.ManagedObjectReference) string {
		for ref != nil {
			o, ok := up[ref.Value]
			if !ok {
				return ""
			}
			if ref.Type == "Datacenter" {
				return o.Name
			}
			ref = o.Parent
		}
		return ""
	}
	out := map[string]*entity{}
	hostTags := map[string]map[string]string{}
	for _, h := range hosts {
		t := map[string]string{"esxhostname": h.Name, "source": h.Name, "moid": h.Self.Value, "dcname": dc(h.Parent)}
		if h.Parent != nil && h.Parent.Type == "ClusterComputeResource" {
			t["clustername"] = up[h.Parent.Value].Name
		}
		hostTags[h.Self.Value] = t
		out[h.Self.Value] = &entity{kind: "host", ref: h.Self, tags: t}
	}
	for _, vm := range vms {
		if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
			continue
		}
		t := map[string]string{"vmname": vm.Name, "source": vm.Name, "moid": vm.Self.Value}
		if vm.Runtime.Host != nil {
			if ht, ok := hostTags[vm.Runtime.Host.Value]; ok {
				for _, k := range []string{"esxhostname", "clustername", "dcname"} {
					if ht[k] != "" {
						t[k] = ht[k]
					}
				}
				guest := ""
				if vm.Config != nil {
					guest = vm.Config.GuestId
				}
				if vm.Guest != nil && vm.Guest.GuestId != "" {
					guest = vm.Guest.GuestId
				}
				t["guest"] = strings.TrimSuffix(guest, "Guest")
				if vm.Guest != nil && vm.Guest.HostName != "" {
					t["guesthostname"] = vm.Guest.HostName
				}
			}
		}
		if vm.Config != nil {
			t["uuid"] = vm.Config.Uuid
		}
		t["rpname"] = "Resources"
		if vm.ResourcePool != nil {
			if rp, ok := up[vm.ResourcePool.Value]; ok {
				t["rpname"] = rp.Name
			}
		}
		mb := strconv.Itoa(int(vm.Summary.Config.MemorySizeMB))
		out[vm.Self.Value] = &entity{kind: "vm", ref: vm.Self, tags: t, extra: []string{`memorySizeMB="` + mb + `"`}}
	}
	return out, nil
}

// metricIDs resolves counter names to ids with instance "*"; unknown names are skipped, as
// Telegraf logs and skips them.
func metricIDs(byName map[string]*types.PerfCounterInfo, names string) []types.PerfMetricId {
	var ids []types.PerfMetricId
	for _, n := range strings.Split(names, ",") {
		if c, ok := byName[strings.TrimSpace(n)]; ok {
			ids = append(ids, types.PerfMetricId{CounterId: c.Key, Instance: "*"})
		} else if n != "" {
			log.Printf("Metric name %s is unknown. Will not be collected", n)
		}
	}
	return ids
}

// chunks builds one spec per entity of kind and cuts them into calls of at most
// maxRealtimeMetrics metric ids. Entities are taken in moid order (Telegraf's is a map's).
func chunks(entities map[string]*entity, kind string, ids []types.PerfMetricId, start, end time.Time, maxSample int32) [][]types.PerfQuerySpec {
	if len(ids) == 0 {
		return nil
	}
	var moids []string
	for id, e := range entities {
		if e.kind == kind {
			moids = append(moids, id)
		}
	}
	sort.Strings(moids)
	var out [][]types.PerfQuerySpec
	var cur []types.PerfQuerySpec
	n := 0
	for _, id := range moids {
		if n+len(ids) > maxRealtimeMetrics && len(cur) > 0 {
			out, cur, n = append(out, cur), nil, 0
		}
		s, e := start, end
		cur = append(cur, types.PerfQuerySpec{
			Entity: entities[id].ref, StartTime: &s, EndTime: &e, MaxSample: maxSample,
			MetricId: ids, IntervalId: 20, Format: string(types.PerfFormatNormal),
		})
		n += len(ids)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// point is collectChunk's bucket: one line's fields.
type point struct {
	measurement string
	tags        map[string]string
	ts          time.Time
	fields      []string
}

// points turns one entity's series into lines and returns the samples written.
func points(w *writer, vcenter string, e *entity, em performance.EntityMetric, byName map[string]*types.PerfCounterInfo, after time.Time) int {
	buckets := map[string]*point{}
	var order []string
	samples := 0
	for _, s := range em.Value {
		group, field := split(s.Name)
		measurement := "vsphere_" + e.kind + "_" + group
		percent := byName[s.Name].UnitInfo.GetElementDescription().Key == "percent"
		t := tags(vcenter, e, group, s.Instance) // populateTags: once per series
		for i, info := range em.SampleInfo {
			if i >= len(s.Value) || s.Value[i] < 0 || !info.Timestamp.After(after) {
				continue
			}
			key := measurement + " " + s.Instance + " " + strconv.FormatInt(info.Timestamp.UnixNano(), 10)
			b, ok := buckets[key]
			if !ok {
				b = &point{measurement: measurement, tags: t, ts: info.Timestamp}
				b.fields = append(b.fields, e.extra...)
				buckets[key] = b
				order = append(order, key)
			}
			if percent {
				b.fields = append(b.fields, field+"="+strconv.FormatFloat(float64(s.Value[i])/100, 'f', -1, 64))
			} else {
				b.fields = append(b.fields, field+"="+strconv.FormatInt(s.Value[i], 10)+"i")
			}
			samples++
		}
	}
	for _, k := range order {
		w.add(buckets[k])
	}
	return samples
}

// split makes `cpu.usage.average` into the group `cpu` and the field `usage_average`.
func split(name string) (string, string) {
	parts := strings.Split(name, ".")
	return parts[0], strings.Join(parts[1:], "_")
}

// instanceTag is populateTags' instance tag by counter group; other groups write
// `instance`, and only for a non-empty instance.
var instanceTag = map[string]string{
	"cpu": "cpu", "datastore": "lun", "disk": "disk", "net": "interface",
	"storageAdapter": "adapter", "storagePath": "path", "vflashModule": "module", "virtualDisk": "disk",
}

// tags copies the entity's tags and adds vcenter and populateTags' instance tag.
func tags(vcenter string, e *entity, group, instance string) map[string]string {
	t := make(map[string]string, len(e.tags)+2)
	for k, v := range e.tags {
		t[k] = v
	}
	t["vcenter"] = vcenter
	name := instanceTag[group]
	switch {
	case name != "" && instance == "":
		t[name] = "instance-total"
	case name == "disk" && group == "disk":
		t[name] = strings.Trim(instance, "<>")
	case name != "":
		t[name] = instance
	case instance != "":
		t["instance"] = instance
	}
	return t
}

var escape = strings.NewReplacer(",", `\,`, " ", `\ `, "=", `\=`)

// add appends one line (tags sorted, as Telegraf's serializer writes them).
func (w *writer) add(p *point) {
	keys := make([]string, 0, len(p.tags))
	for k := range p.tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w.buf.WriteString(p.measurement)
	for _, k := range keys {
		w.buf.WriteString("," + escape.Replace(k) + "=" + escape.Replace(p.tags[k]))
	}
	w.buf.WriteString(" " + strings.Join(p.fields, ",") + " " + strconv.FormatInt(p.ts.UnixNano(), 10) + "\n")
	w.lines++
	if w.lines >= w.batch {
		if err := w.flush(); err != nil {
			log.Fatalf("write: %v", err)
		}
	}
}

// flush POSTs the batch to /write.
func (w *writer) flush() error {
	if w.lines == 0 {
		return nil
	}
	body := w.buf.Bytes()
	if w.gzip {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		if _, err := zw.Write(body); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		body = z.Bytes()
	}
	req, err := http.NewRequest("POST", w.url+"/write?db="+url.QueryEscape(w.db), bytes.NewReader(body))
	if err != nil {
		return err
	}
	if w.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("InfluxDB answered %s", resp.Status)
	}
	w.written += w.lines
	w.bytesSent += len(body)
	w.lines = 0
	w.buf.Reset()
	return nil
}

// report prints the run's figures and the process's CPU time.
func report(samples int, w *writer, calls, entities int) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	secs := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	user, sys := secs(ru.Utime), secs(ru.Stime)
	_ = json.NewEncoder(os.Stdout).Encode(map[string]interface{}{
		"entities": entities, "calls": calls, "samples": samples, "lines": w.written,
		"bytes": w.bytesSent, "cpu_user": user, "cpu_sys": sys, "max_rss_kb": ru.Maxrss,
	})
}
