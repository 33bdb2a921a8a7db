//! The govmomi vCenter simulator (tests/vcsim/main.go), built once by scripts/build-vcsim.sh.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// The size and behaviour of a simulated vCenter.
#[derive(Clone, Debug)]
pub struct SimOptions {
    pub datacenters: u32,
    /// Pools under each of the `pools` pools, the cluster's VMs moved into the first
    /// (`Resources/DC0_C0_RP1/DC0_C0_RP1_N0/DC0_C0_RP0_VM0`).
    pub nested_pools: u32,
    pub clusters: u32,
    pub hosts_per_cluster: u32,
    pub standalone_hosts: u32,
    /// VMs per cluster and per standalone host.
    pub vms: u32,
    pub poweroff: u32,
    pub disconnect: u32,
    /// `Some((user, password))`: only that login works.
    pub login: Option<(String, String)>,
    /// Serve https with this PEM certificate and key.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Expire idle sessions after this long (to test re-login).
    pub session_idle_timeout: Option<std::time::Duration>,
    /// Listen on this port (to restart a simulator at the same URL); 0 picks one.
    pub port: u16,
    /// Hold back the newest samples this long, as a real vCenter posts them late
    /// (changeable at run time with [`Simulator::set_lag`]).
    pub lag: std::time::Duration,
    /// Resource pools per cluster besides its root pool, datastores per datacenter, and
    /// folders per root folder (objects then sit inside them).
    pub pools: u32,
    pub datastores: u32,
    pub folders: u32,
    /// The first historical interval's sampling period (vCenter: 300 s), and how late its
    /// samples are posted (`None`: the simulator's realistic default, one and a half
    /// intervals after the interval closed).
    pub historical_interval: std::time::Duration,
    pub historical_lag: Option<std::time::Duration>,
    /// `config.vpxd.stats.maxQueryMetrics`: 0 leaves the option absent (the simulator then
    /// enforces vCenter's default, 256), -1 sets no limit.
    pub max_query_metrics: i32,
    /// How many times a cluster's metric ids count toward it (vCenter over-counts them;
    /// the simulator's default is 20).
    pub cluster_metric_weight: u32,
    /// Each performance call takes at least this long (calls are served concurrently; see
    /// [`Simulator::in_flight`]).
    pub perf_delay: std::time::Duration,
    /// QueryPerf calls served at once; beyond, HTTP 503 as from vCenter's reverse proxy
    /// (0: no cap; tests/vcsim/front.go).
    pub max_concurrent_calls: u32,
    /// The XML elements vCenter accepts in one request (`None`: vCenter's 500,000).
    pub max_request_elements: Option<u32>,
    /// Custom attributes on VMs and hosts and guest NIC addresses on VMs (tests/vcsim/tags.go).
    pub seed_tags: bool,
    /// Serve vSAN's `/vsanHealth` (tests/vcsim/vsan.go): its sampling interval and how late
    /// its samples are posted (changeable with `control("vsanlag=…")`).
    pub vsan: Option<(std::time::Duration, std::time::Duration)>,
    /// `about.apiVersion` to report instead of govmomi's 6.5 (`-api-version`): from 8.0.2 a
    /// vSAN spec may name several UUIDs.
    pub api_version: Option<String>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            datacenters: 1,
            nested_pools: 0,
            clusters: 1,
            hosts_per_cluster: 2,
            standalone_hosts: 0,
            vms: 4,
            poweroff: 0,
            disconnect: 0,
            login: Some(("user".into(), "pass".into())),
            tls: None,
            session_idle_timeout: None,
            port: 0,
            lag: std::time::Duration::ZERO,
            pools: 0,
            datastores: 1,
            folders: 0,
            historical_interval: std::time::Duration::from_secs(300),
            historical_lag: None,
            max_query_metrics: 0,
            cluster_metric_weight: 20,
            perf_delay: std::time::Duration::ZERO,
            max_concurrent_calls: 0,
            max_request_elements: None,
            seed_tags: false,
            vsan: None,
            api_version: None,
        }
    }
}

/// A running simulator; killed on drop.
pub struct Simulator {
    child: Child,
    /// e.g. `http://127.0.0.1:40123/sdk`
    pub url: String,
    pub opts: SimOptions,
}

/// Builds the simulator binary once per test process (the script itself takes a file lock).
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = super::root();
        let status = Command::new(root.join("scripts/build-vcsim.sh"))
            .status()
            .expect("running scripts/build-vcsim.sh");
        assert!(status.success(), "scripts/build-vcsim.sh failed");
        root.join("target/vcsim/vcsim-vcollect")
    })
}

impl Simulator {
    pub fn start(opts: SimOptions) -> Simulator {
        let mut cmd = Command::new(binary());
        cmd.arg(format!("-listen=127.0.0.1:{}", opts.port))
            .arg(format!("-dc={}", opts.datacenters))
            .arg(format!("-nested-pool={}", opts.nested_pools))
            .arg(format!("-cluster={}", opts.clusters))
            .arg(format!("-cluster-host={}", opts.hosts_per_cluster))
            .arg(format!("-standalone-host={}", opts.standalone_hosts))
            .arg(format!("-vm={}", opts.vms))
            .arg(format!("-poweroff={}", opts.poweroff))
            .arg(format!("-disconnect={}", opts.disconnect))
            .arg(format!("-lag={}ms", opts.lag.as_millis()))
            .arg(format!("-pool={}", opts.pools))
            .arg(format!("-ds={}", opts.datastores))
            .arg(format!("-folder={}", opts.folders))
            .arg(format!(
                "-historical-interval={}ms",
                opts.historical_interval.as_millis()
            ))
            .arg(format!("-max-query-metrics={}", opts.max_query_metrics))
            .arg(format!("-perf-delay={}ms", opts.perf_delay.as_millis()))
            .arg(format!(
                "-max-concurrent-calls={}",
                opts.max_concurrent_calls
            ))
            .arg(format!(
                "-cluster-metric-weight={}",
                opts.cluster_metric_weight
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some((user, pass)) = &opts.login {
            cmd.arg(format!("-user={user}")).env("VCSIM_PASSWORD", pass);
        }
        if let Some(n) = opts.max_request_elements {
            cmd.arg(format!("-max-request-elements={n}"));
        }
        if let Some((cert, key)) = &opts.tls {
            cmd.arg(format!("-tls-cert={}", cert.display()))
                .arg(format!("-tls-key={}", key.display()));
        }
        if let Some(lag) = opts.historical_lag {
            cmd.arg(format!("-historical-lag={}ms", lag.as_millis()));
        }
        if opts.seed_tags {
            cmd.arg("-seed-tags");
        }
        if let Some((interval, lag)) = opts.vsan {
            cmd.arg("-vsan")
                .arg(format!("-vsan-interval={}ms", interval.as_millis()))
                .arg(format!("-vsan-lag={}ms", lag.as_millis()));
        }
        if let Some(v) = &opts.api_version {
            cmd.arg(format!("-api-version={v}"));
        }
        if let Some(t) = opts.session_idle_timeout {
            cmd.arg(format!("-session-idle-timeout={}ms", t.as_millis()));
        }
        let mut child = cmd.spawn().expect("starting the simulator");
        let stdout = child.stdout.take().expect("simulator stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reading the simulator's URL");
        let url = line
            .trim()
            .strip_prefix("VCSIM_URL=")
            .unwrap_or_else(|| panic!("simulator printed {line:?} instead of its URL"))
            .to_string();
        Simulator { child, url, opts }
    }

    /// The TCP port the simulator listens on.
    pub fn port(&self) -> u16 {
        let after = self.url.rsplit(':').next().expect("port in url");
        after
            .trim_end_matches("/sdk")
            .parse()
            .expect("numeric port")
    }

    /// Sends `query` to the simulator's control endpoint (see tests/vcsim/perf.go).
    pub async fn control(&self, query: &str) {
        let base = self.url.trim_end_matches("/sdk");
        let resp = reqwest::get(format!("{base}/vcsim/control?{query}"))
            .await
            .expect("the simulator's control endpoint");
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "vcsim control {query}: {status} {body}"
        );
    }

    /// Perf calls the simulator answered, per method and entity type:
    /// `calls()["QueryPerf"]["VirtualMachine"]` is the number of QueryPerf specs for VMs,
    /// `calls()["QueryAvailablePerfMetric"]["HostSystem"]` the calls for hosts.
    pub async fn calls(&self) -> serde_json::Value {
        let base = self.url.trim_end_matches("/sdk");
        reqwest::get(format!("{base}/vcsim/calls"))
            .await
            .expect("the simulator's calls endpoint")
            .json()
            .await
            .expect("calls as JSON")
    }

    /// Sets the lag of every host's samples, or of one host (moid or name) and its VMs.
    pub async fn set_lag(&self, host: Option<&str>, lag: std::time::Duration) {
        let lag = format!("lag={}ms", lag.as_millis());
        match host {
            Some(h) => self.control(&format!("{lag}&host={h}")).await,
            None => self.control(&lag).await,
        }
    }

    /// Takes a host out (vCenter answers nothing newer for it and its VMs) or back in (its
    /// whole last hour is answered again).
    pub async fn set_out(&self, host: &str, out: bool) {
        self.control(&format!("out={}&host={host}", u8::from(out)))
            .await;
    }

    /// The most performance calls (QueryPerf, QueryAvailablePerfMetric) the simulator had in
    /// flight at once since it started or since [`Simulator::reset_in_flight`].
    pub async fn in_flight(&self) -> u64 {
        self.calls().await["InFlight"]["max"]
            .as_u64()
            .expect("InFlight.max in /vcsim/calls")
    }

    /// Starts a new maximum of calls in flight.
    pub async fn reset_in_flight(&self) {
        self.control("inflight=reset").await;
    }

    /// Deletes `n` powered-on VMs from the inventory (a real vCenter then fails any QueryPerf
    /// call naming one with `ManagedObjectNotFound`); returns their moids.
    pub async fn destroy_vms(&self, n: u32) -> Vec<String> {
        let base = self.url.trim_end_matches("/sdk");
        let body = reqwest::get(format!("{base}/vcsim/control?destroy={n}"))
            .await
            .expect("the simulator's control endpoint")
            .text()
            .await
            .expect("the control endpoint's answer");
        body.lines()
            .filter_map(|l| l.strip_prefix("destroyed "))
            .map(str::to_string)
            .collect()
    }

    /// Kills the simulator (as a crashed vCenter would vanish).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a fresh simulator with the same options on the same port: a restarted vCenter,
    /// whose sessions and views are all gone.
    pub fn restart(&mut self) {
        self.kill();
        let mut opts = self.opts.clone();
        opts.port = self.port();
        *self = Simulator::start(opts);
    }

    /// Total VMs and hosts the model holds, and how many of them vcollect should query.
    pub fn expected_vms(&self) -> u32 {
        let o = &self.opts;
        o.vms * (o.clusters + o.standalone_hosts) * o.datacenters - o.poweroff
    }

    pub fn expected_hosts(&self) -> u32 {
        let o = &self.opts;
        (o.clusters * o.hosts_per_cluster + o.standalone_hosts) * o.datacenters - o.disconnect
    }

    /// Clusters, datastores and resource pools (a root pool per cluster and per standalone
    /// host, plus `pools` per cluster): what vcollect collects besides VMs and hosts by
    /// default (datacenters are off by default).
    pub fn expected_historical(&self) -> u32 {
        let o = &self.opts;
        let pools = o.clusters * (1 + o.pools) + o.standalone_hosts;
        o.clusters + o.datastores + pools
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Test TLS material: a CA, and a server certificate it signed for 127.0.0.1 and localhost.
pub struct TestCerts {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Writes a fresh CA and server certificate into `dir` (RSA-1024 would be refused by rustls,
/// which is why the simulator's built-in certificate is not used).
pub fn test_certs(dir: &Path) -> TestCerts {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("CA cert");
    let key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("server params");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("server cert");
    let out = TestCerts {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server-key.pem"),
    };
    std::fs::write(&out.ca, ca.pem()).expect("writing CA");
    std::fs::write(&out.cert, cert.pem()).expect("writing cert");
    std::fs::write(&out.key, key.serialize_pem()).expect("writing key");
    out
}

/// A self-signed server certificate with `basicConstraints CA:TRUE`, the way some vCenters
/// have it, for `names`. Writes `<stem>.pem` and `<stem>-key.pem`; returns (cert, key, DER).
pub fn self_signed_ca_leaf(dir: &Path, stem: &str, names: &[&str]) -> (PathBuf, PathBuf, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let key = KeyPair::generate().expect("key");
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).expect("self-signed cert");
    let (cert_path, key_path) = (
        dir.join(format!("{stem}.pem")),
        dir.join(format!("{stem}-key.pem")),
    );
    std::fs::write(&cert_path, cert.pem()).expect("writing cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("writing key");
    (cert_path, key_path, cert.der().to_vec())
}
