// vcsim-vcollect serves a govmomi simulator vCenter (simulator.VPX) of a chosen size for
// vcollect's tests, demo and benchmarks. It is built from Debian's golang-go and
// golang-github-vmware-govmomi-dev in GOPATH mode by scripts/build-vcsim.sh.
//
// QueryPerf answers like a real vCenter (perf.go), with its limits (limits.go, front.go)
// and a latency model (load.go), unless -govmomi-perf is given; a test changes the lag,
// takes hosts out and deletes VMs at run time through GET /vcsim/control.
//
// When the server is listening it prints one line, `VCSIM_URL=<url>`, on stdout, then
// serves until SIGTERM or SIGINT.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/vpx"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "host:port to listen on (port 0 picks a free one)")
	user := flag.String("user", "", "the only valid user name (empty: any login works)")
	passwordEnv := flag.String("password-env", "VCSIM_PASSWORD", "environment variable holding the password for -user")
	certFile := flag.String("tls-cert", "", "PEM certificate: serve https with it (empty: plain http)")
	keyFile := flag.String("tls-key", "", "PEM private key for -tls-cert")
	dc := flag.Int("dc", 1, "datacenters")
	clusters := flag.Int("cluster", 1, "clusters per datacenter")
	clusterHosts := flag.Int("cluster-host", 3, "hosts per cluster")
	standalone := flag.Int("standalone-host", 0, "standalone hosts per datacenter")
	vms := flag.Int("vm", 2, "VMs per cluster and per standalone host")
	nested := flag.Int("nested-pool", 0, "child pools under each of the -pool pools, with the VMs of the root pool moved into the first")
	poweroff := flag.Int("poweroff", 0, "power off this many VMs after creation")
	disconnect := flag.Int("disconnect", 0, "mark this many hosts disconnected after creation")
	idle := flag.Duration("session-idle-timeout", 0, "expire sessions idle this long (0: never)")
	pools := flag.Int("pool", 0, "resource pools per cluster, besides its root pool (each VM-less)")
	apps := flag.Int("app", 0, "vApps per cluster")
	datastores := flag.Int("ds", 1, "datastores per datacenter")
	folders := flag.Int("folder", 0, "folders in each of a datacenter's vm, host, datastore and network folders: objects are created inside them")
	historical := flag.Duration("historical-interval", 300*time.Second, "the sampling period of the first historical interval (vCenter's \"past day\"): what clusters, datastores, datacenters and pools have statistics at")
	historicalLag := flag.Duration("historical-lag", -1, "hold back the newest historical samples this long, as vCenter posts its rollups late (changeable at run time on /vcsim/control?hlag=); negative: one and a half historical intervals (a 5-min sample posted 7.5 min after its interval closed)")
	maxQueryMetrics := flag.Int("max-query-metrics", 0, "config.vpxd.stats.maxQueryMetrics: set the option to this value and enforce it on historical QueryPerf calls (0: option absent, 256 enforced as by vCenter 6.5+; -1: no limit)")
	perfDelay := flag.Duration("perf-delay", 0, "each QueryPerf and QueryAvailablePerfMetric call takes at least this long (calls are served concurrently; /vcsim/calls reports the most in flight)")
	perSeries := flag.Duration("perf-cost-per-series", 0, "a QueryPerf call takes this much longer per series it answers (entity x counter x instance), on top of -perf-delay (load.go; e.g. 100us with -perf-delay 100ms)")
	maxCalls := flag.Int("max-concurrent-calls", 0, "QueryPerf calls served at once; beyond, HTTP 503 as from vCenter's reverse proxy (front.go; 0: no cap)")
	maxElements := flag.Int("max-request-elements", defaultMaxRequestElements, "refuse a SOAP request of more XML elements, as vpxd does (0: no limit)")
	maxBytes := flag.Int64("max-request-bytes", defaultMaxRequestBytes, "refuse a SOAP request body of more bytes, as vpxd does (0: no limit)")
	clusterWeight := flag.Int("cluster-metric-weight", 20, "how many times a cluster's metric ids count toward maxQueryMetrics (vCenter over-counts cluster queries)")
	lag := flag.Duration("lag", 0, "hold back the newest samples this long, as vCenter posts them late (changeable at run time on /vcsim/control)")
	govmomiPerf := flag.Bool("govmomi-perf", false, "answer QueryPerf as govmomi's simulator does (instance \"*\" echoed, zeros for counters without data, samples off the grid) instead of like a real vCenter")
	counters := flag.Bool("counters", false, "print each counter with the kinds that have data for it, then exit")
	vsan := flag.Bool("vsan", false, "serve vSAN's /vsanHealth endpoint (performance, space, health, resync) and QueryCmmds, every cluster vSAN-enabled (vsan.go)")
	vsanInterval := flag.Duration("vsan-interval", 5*time.Minute, "with -vsan: the vSAN performance samples' period (vsan_interval)")
	vsanLag := flag.Duration("vsan-lag", -1, "with -vsan: hold back the newest vSAN samples this long (changeable on /vcsim/control?vsanlag=); negative: one and a half -vsan-interval, as vCenter's rollups")
	apiVersion := flag.String("api-version", "", "about.apiVersion (and about.version) to report instead of govmomi's 6.5, e.g. 8.0.2.0: with -vsan, from 8.0.2 a vSAN spec may name several UUIDs (vsan.go)")
	tags := flag.Bool("seed-tags", false, "give VMs and hosts custom attributes and VMs guest NIC addresses (see tags.go)")
	flag.Parse()

	model := simulator.VPX()
	model.Datacenter = *dc
	model.Cluster = *clusters
	model.ClusterHost = *clusterHosts
	model.Host = *standalone
	model.Machine = *vms
	model.Pool = *pools
	model.App = *apps
	model.Datastore = *datastores
	model.Folder = *folders
	model.Autostart = true
	if *apiVersion != "" {
		model.ServiceContent.About.ApiVersion = *apiVersion
		model.ServiceContent.About.Version = *apiVersion
	}

	start := time.Now()
	if err := model.Create(); err != nil {
		log.Fatalf("creating the model: %v", err)
	}
	defer model.Remove()

	powerOff(*poweroff)
	nestPools(*nested)
	disconnectHosts(*disconnect)
	if *tags {
		seedTags()
	}
	if *counters {
		listCounters()
		return
	}
	var rp *realPerf
	if !*govmomiPerf {
		hlag := *historicalLag
		if hlag < 0 {
			hlag = *historical * 3 / 2
		}
		l := installLimits(*maxQueryMetrics, *clusterWeight)
		rp = installRealPerf(*lag, int64(historical.Seconds()), hlag, l, *perfDelay, *perSeries)
		model.Service.HandleFunc("/vcsim/control", rp.control)
		model.Service.HandleFunc("/vcsim/calls", rp.serveCalls)
	}
	if *idle > 0 {
		simulator.SessionIdleTimeout = *idle
	}

	u := &url.URL{Host: *listen}
	if *user != "" {
		u.User = url.UserPassword(*user, os.Getenv(*passwordEnv))
	}
	model.Service.Listen = u
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			log.Fatalf("loading -tls-cert/-tls-key: %v", err)
		}
		model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	} else {
		model.Service.TLS = nil
	}

	if *vsan {
		vl := *vsanLag
		if vl < 0 {
			vl = *vsanInterval * 3 / 2
		}
		installVsan(model.Service, *vsanInterval, vl, apiAtLeast(model.ServiceContent.About.ApiVersion, 8, 0, 2))
	}
	model.Service.RegisterEndpoints = true // the REST API of vapi.go
	server := model.Service.NewServer()
	defer server.Close()
	// vCenter's proxy and request limits before the SDK handler (front.go). Set before the
	// URL is printed: no client can have connected yet.
	// Behind it, event collectors that answer only their filter's time window (event_window.go).
	fr := newFront(newEventWindow(server.Config.Handler), *maxCalls, *maxElements, *maxBytes)
	server.Config.Handler = fr
	if rp != nil {
		rp.mu.Lock()
		rp.front = fr
		rp.mu.Unlock()
	}

	out := *server.URL
	out.User = nil
	log.Printf("model of %d VMs and %d hosts created in %v", count("VirtualMachine"), count("HostSystem"), time.Since(start))
	fmt.Printf("VCSIM_URL=%s\n", out.String())
	os.Stdout.Sync()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

func listCounters() {
	kinds := []string{"VirtualMachine", "HostSystem", "ClusterComputeResource", "Datastore", "Datacenter", "ResourcePool"}
	for _, c := range vpx.PerfCounter {
		fmt.Printf("%d %s.%s.%s level=%d", c.Key, c.GroupInfo.GetElementDescription().Key,
			c.NameInfo.GetElementDescription().Key, c.RollupType, c.Level)
		for _, k := range kinds {
			if len(vpx.MetricData[k][c.Key]) > 0 {
				fmt.Printf(" %s", k)
			}
		}
		fmt.Println()
	}
}

func count(kind string) int {
	return len(simulator.Map.All(kind))
}

func powerOff(n int) {
	for _, obj := range simulator.Map.All("VirtualMachine") {
		if n <= 0 {
			return
		}
		vm := obj.(*simulator.VirtualMachine)
		vm.Runtime.PowerState = types.VirtualMachinePowerStatePoweredOff
		vm.Summary.Runtime.PowerState = types.VirtualMachinePowerStatePoweredOff
		n--
	}
}

// nestPools creates n pools under each child pool of a root pool ("Resources"), and moves the
// VMs of each root pool into the first nested pool, so that VMs sit two pools deep:
// /DC0/host/DC0_C0/Resources/DC0_C0_RP1/DC0_C0_RP1_N0/DC0_C0_RP0_VM0.
func nestPools(n int) {
	if n <= 0 {
		return
	}
	for _, obj := range simulator.Map.All("ResourcePool") {
		root, ok := obj.(*simulator.ResourcePool)
		if !ok || root.Parent == nil || root.Parent.Type == "ResourcePool" || len(root.ResourcePool.ResourcePool) == 0 {
			continue
		}
		var first *types.ManagedObjectReference
		for _, childRef := range root.ResourcePool.ResourcePool {
			child, ok := simulator.Map.Get(childRef).(*simulator.ResourcePool)
			if !ok {
				continue
			}
			for i := 0; i < n; i++ {
				res := child.CreateResourcePool(&types.CreateResourcePool{
					Name: fmt.Sprintf("%s_N%d", child.Name, i),
					Spec: types.DefaultResourceConfigSpec(),
				})
				if f := res.Fault(); f != nil {
					log.Fatalf("creating a nested pool: %v", f.VimFault())
				}
				if first == nil {
					ref := res.(*methods.CreateResourcePoolBody).Res.Returnval
					first = &ref
				}
			}
		}
		if first == nil {
			continue
		}
		target := simulator.Map.Get(*first).(*simulator.ResourcePool)
		for _, vmRef := range root.Vm {
			if vm, ok := simulator.Map.Get(vmRef).(*simulator.VirtualMachine); ok {
				ref := *first
				vm.ResourcePool = &ref
				target.Vm = append(target.Vm, vmRef)
			}
		}
		root.Vm = nil
	}
}

func disconnectHosts(n int) {
	for _, obj := range simulator.Map.All("HostSystem") {
		if n <= 0 {
			return
		}
		host := obj.(*simulator.HostSystem)
		host.Runtime.ConnectionState = types.HostSystemConnectionStateDisconnected
		host.Summary.Runtime.ConnectionState = types.HostSystemConnectionStateDisconnected
		n--
	}
}

var _ mo.Entity = (*simulator.VirtualMachine)(nil)
