//! vSphere tags as series tags, end to end: the simulator's tagging service (govmomi's vapi
//! simulator, tests/vcsim/vapi.go) holding categories and tags attached through its REST
//! API as an administrator's script would, the real binary, a real InfluxDB.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::config::{self, Vc};
use common::influx::Influx;
use common::vcsim::{SimOptions, Simulator};
use serde_json::{json, Value};

/// The simulator's REST tagging API, as a test's administrator uses it.
struct Tagging {
    http: reqwest::Client,
    base: String,
    session: String,
}

impl Tagging {
    async fn login(sim: &Simulator) -> Tagging {
        let base = format!("{}/rest/com/vmware/cis", sim.url.trim_end_matches("/sdk"));
        // The administrator's own client; what is tested is vcollect's TLS, not this one's.
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .expect("an HTTP client");
        let v = send(
            http.post(format!("{base}/session"))
                .basic_auth("admin", Some("pass"))
                .header("vmware-use-header-authn", "true"),
        )
        .await;
        let session = v["value"].as_str().expect("a session id").to_string();
        Tagging {
            http,
            base,
            session,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let req = self
            .http
            .post(format!("{}/{path}", self.base))
            .header("vmware-api-session-id", &self.session)
            .header("content-type", "application/json")
            .body(body.to_string());
        send(req).await
    }

    async fn category(&self, name: &str, cardinality: &str) -> String {
        let spec = json!({"create_spec": {"name": name, "description": "", "cardinality": cardinality, "associable_types": []}});
        let v = self.post("tagging/category", spec).await;
        v["value"].as_str().expect("category id").to_string()
    }

    async fn tag(&self, category: &str, name: &str) -> String {
        let spec =
            json!({"create_spec": {"name": name, "description": "", "category_id": category}});
        let v = self.post("tagging/tag", spec).await;
        v["value"].as_str().expect("tag id").to_string()
    }

    async fn attach(&self, tag: &str, (ty, moid): &(&str, String)) {
        let path = format!("tagging/tag-association/id:{tag}?~action=attach");
        self.post(&path, json!({"object_id": {"type": ty, "id": moid}}))
            .await;
    }

    async fn detach(&self, tag: &str, (ty, moid): &(&str, String)) {
        let path = format!("tagging/tag-association/id:{tag}?~action=detach");
        self.post(&path, json!({"object_id": {"type": ty, "id": moid}}))
            .await;
    }
}

async fn send(req: reqwest::RequestBuilder) -> Value {
    let resp = req.send().await.expect("the simulator's REST API");
    let status = resp.status();
    let body = resp.bytes().await.unwrap_or_default();
    assert!(
        status.is_success(),
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(&body).expect("JSON from the REST API")
}

/// The moids of each measurement prefix (`vsphere_vm_`) in `vcollect once --output -`.
async fn moids(cfg: &std::path::Path) -> BTreeMap<&'static str, BTreeSet<String>> {
    let (stdout, stderr) = common::once_ok(cfg, &["--output", "-"]).await;
    let mut out: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for line in stdout.lines() {
        for prefix in ["vsphere_vm_", "vsphere_host_", "vsphere_datastore_"] {
            if !line.starts_with(prefix) {
                continue;
            }
            let moid = line
                .split([',', ' '])
                .find_map(|t| t.strip_prefix("moid="))
                .unwrap_or_else(|| panic!("no moid in {line}"));
            out.entry(prefix).or_default().insert(moid.to_string());
        }
    }
    assert_eq!(out.len(), 3, "{stdout}\n{stderr}");
    out
}

/// Per moid, the values of `key` on the points of `measurement` (a name, or a `/regex/`)
/// at or after `since`.
async fn values(
    influx: &Influx,
    measurement: &str,
    key: &str,
    since: i64,
) -> BTreeMap<String, BTreeSet<String>> {
    let from = match measurement.starts_with('/') {
        true => measurement.to_string(),
        false => format!("\"{measurement}\""),
    };
    let q =
        format!("SELECT count(*) FROM {from} WHERE time >= {since}s GROUP BY \"moid\", \"{key}\"");
    let v = influx.query("vsphere", &q).await;
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in v["results"][0]["series"].as_array().into_iter().flatten() {
        let moid = s["tags"]["moid"].as_str().unwrap_or_default().to_string();
        let value = s["tags"][key].as_str().unwrap_or_default().to_string();
        out.entry(moid).or_default().insert(value);
    }
    out
}

fn one(v: &str) -> BTreeSet<String> {
    [v.to_string()].into()
}

#[tokio::test(flavor = "multi_thread")]
async fn vsphere_tags_reach_every_kind_and_a_retag_is_seen_at_the_next_discovery() {
    let sim = Simulator::start(SimOptions {
        clusters: 1,
        hosts_per_cluster: 2,
        vms: 2,
        // Datastore samples every 20 s, posted at once: the retag shows on them as fast.
        historical_interval: Duration::from_secs(20),
        historical_lag: Some(Duration::ZERO),
        ..SimOptions::default()
    });
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let dir = tempfile::tempdir().unwrap();
    let collect = "[collect]\ninterval = \"2s\"\nlookback = \"1m\"\ndiscovery_interval = \"1s\"\n\
                   tag_categories_include = [\"*\"]\ntag_categories_exclude = [\"secret*\"]\n";
    let cfg = config::write(dir.path(), &[Vc::new("vc1", &sim)], &influx.url(), collect);
    let found = moids(&cfg).await;
    let vms: Vec<(&str, String)> = found["vsphere_vm_"]
        .iter()
        .map(|m| ("VirtualMachine", m.clone()))
        .collect();
    let hosts: Vec<(&str, String)> = found["vsphere_host_"]
        .iter()
        .map(|m| ("HostSystem", m.clone()))
        .collect();
    let ds = (
        "Datastore",
        found["vsphere_datastore_"].first().unwrap().clone(),
    );
    assert!(vms.len() >= 2 && hosts.len() >= 2, "{found:?}");

    let t = Tagging::login(&sim).await;
    let env = t.category("env", "SINGLE").await;
    let app = t.category("app", "MULTIPLE").await;
    let reserved = t.category("moid", "SINGLE").await;
    let secret = t.category("secret", "SINGLE").await;
    let (prod, lab) = (t.tag(&env, "prod").await, t.tag(&env, "lab").await);
    let (web, db) = (t.tag(&app, "web").await, t.tag(&app, "db").await);
    let forged = t.tag(&reserved, "forged").await;
    let s3cret = t.tag(&secret, "s3cret").await;
    for vm in &vms {
        t.attach(&prod, vm).await;
        t.attach(&forged, vm).await;
        t.attach(&s3cret, vm).await;
    }
    t.attach(&web, &vms[0]).await;
    t.attach(&db, &vms[0]).await;
    t.attach(&web, &vms[1]).await;
    t.attach(&lab, &hosts[0]).await;
    t.attach(&lab, &ds).await;

    let log = dir.path().join("agent.log");
    let mut agent = common::spawn_agent(&cfg, Some(&log));
    let start = 0;
    // VMs: env on every point, two tags of `app` joined sorted, the reserved category and
    // the excluded one nowhere.
    let vm_env = common::poll("env on every VM", Duration::from_secs(60), || async {
        let v = values(&influx, "vsphere_vm_cpu", "env", start).await;
        (vms.iter().all(|(_, m)| v.get(m) == Some(&one("prod")))).then_some(v)
    })
    .await;
    assert_eq!(vm_env.len(), vms.len(), "{vm_env:?}");
    let vm_app = values(&influx, "vsphere_vm_mem", "app", start).await;
    assert_eq!(vm_app[&vms[0].1], one("db,web"), "{vm_app:?}");
    assert_eq!(vm_app[&vms[1].1], one("web"), "{vm_app:?}");
    let keys = influx.tag_keys("vsphere_vm_cpu").await;
    assert!(!keys.contains("secret"), "{keys:?}");
    let moid_values = values(&influx, "vsphere_vm_cpu", "moid", start).await;
    assert!(
        vms.iter().all(|(_, m)| moid_values[m] == one(m)),
        "{moid_values:?}"
    );
    // A host and the datastore: theirs; the untagged host none.
    let host_env = common::poll("env on a host", Duration::from_secs(60), || async {
        let v = values(&influx, "vsphere_host_cpu", "env", start).await;
        (v.get(&hosts[0].1) == Some(&one("lab"))).then_some(v)
    })
    .await;
    assert_eq!(host_env.get(&hosts[1].1), Some(&one("")), "{host_env:?}");
    common::poll("env on the datastore", Duration::from_secs(60), || async {
        let v = values(&influx, "/^vsphere_datastore_/", "env", start).await;
        (v.get(&ds.1) == Some(&one("lab"))).then_some(())
    })
    .await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("a vSphere tag category has the name of a tag vcollect writes"),
        "{text}"
    );

    // Retag while the agent runs: the first VM and the datastore move from one env to the
    // other; their next points, after the next discovery, carry the new value.
    let retagged = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    t.detach(&prod, &vms[0]).await;
    t.attach(&lab, &vms[0]).await;
    t.detach(&lab, &ds).await;
    t.attach(&prod, &ds).await;
    common::poll(
        "the retag on new points",
        Duration::from_secs(90),
        || async {
            let vm = values(&influx, "vsphere_vm_cpu", "env", retagged).await;
            let d = values(&influx, "/^vsphere_datastore_/", "env", retagged).await;
            (vm.get(&vms[0].1).is_some_and(|v| v.contains("lab"))
                && vm.get(&vms[1].1).is_some_and(|v| v.contains("prod"))
                && d.get(&ds.1).is_some_and(|v| v.contains("prod")))
            .then_some(())
        },
    )
    .await;
    common::sigterm(agent.id().expect("agent pid"));
    let _ = agent.wait().await;
}

/// With the keys unset, the tags exist in the simulator but the tagging service is never
/// asked: no tag is written and no read is logged. Set, the tags are read through `/api`
/// where the vCenter serves it (7.0 U2+; the simulator's translation, tests/vcsim/vapi.go).
#[tokio::test(flavor = "multi_thread")]
async fn tags_are_read_only_when_asked_and_through_api_where_it_is_served() {
    let sim = Simulator::start(SimOptions {
        clusters: 1,
        hosts_per_cluster: 1,
        vms: 1,
        ..SimOptions::default()
    });
    let t = Tagging::login(&sim).await;
    let env = t.category("env", "SINGLE").await;
    let prod = t.tag(&env, "prod").await;
    let dir = tempfile::tempdir().unwrap();
    let write = |collect: &str| {
        let collect = format!("[collect]\nlookback = \"1m\"\n{collect}");
        config::write(dir.path(), &[Vc::new("vc1", &sim)], "-", &collect)
    };
    let found = moids(&write("")).await;
    let vm = (
        "VirtualMachine",
        found["vsphere_vm_"].first().unwrap().clone(),
    );
    t.attach(&prod, &vm).await;
    let (stdout, stderr) = common::once_ok(&write(""), &["--output", "-"]).await;
    assert!(stdout.contains("vsphere_vm_cpu"), "{stdout}");
    assert!(!stdout.contains("env=prod"), "{stdout}");
    assert!(!stderr.contains("vSphere tags"), "{stderr}");

    let api = format!("{}/vcsim/api", sim.url.trim_end_matches("/sdk"));
    let served = || async {
        let v = send(reqwest::Client::new().get(&api)).await;
        v["served"].as_i64().expect("served")
    };
    let with_tags = write("tag_categories_include = [\"env\"]\n");
    let (stdout, stderr) = common::once_ok(&with_tags, &["--output", "-"]).await;
    assert!(stderr.contains("read vSphere tags"), "{stderr}");
    assert!(stdout.contains(",env=prod,"), "{stdout}");
    assert_eq!(served().await, 0, "/api is off: /rest answered");
    send(reqwest::Client::new().get(format!("{api}?serve=1"))).await;
    let (stdout, _) = common::once_ok(&with_tags, &["--output", "-"]).await;
    assert!(stdout.contains(",env=prod,"), "{stdout}");
    assert!(
        served().await >= 5,
        "login, categories, tags, attachments, names via /api"
    );
}

/// Over https, the REST session trusts what the SOAP one trusts: the `[[vcenter]]`'s
/// `ca_file` (a CA no system trusts), the same way.
#[tokio::test(flavor = "multi_thread")]
async fn tags_are_read_over_https_with_the_vcenters_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let certs = common::vcsim::test_certs(dir.path());
    let sim = Simulator::start(SimOptions {
        tls: Some((certs.cert.clone(), certs.key.clone())),
        clusters: 1,
        hosts_per_cluster: 1,
        vms: 1,
        ..SimOptions::default()
    });
    let mut vc = Vc::new("vc1", &sim);
    vc.extra = format!("ca_file = \"{}\"", certs.ca.display());
    let collect = "[collect]\nlookback = \"1m\"\ntag_categories_include = [\"env\"]\n";
    let cfg = config::write(dir.path(), &[vc], "-", collect);
    let found = moids(&cfg).await;
    let t = Tagging::login(&sim).await;
    let env = t.category("env", "SINGLE").await;
    let prod = t.tag(&env, "prod").await;
    for host in &found["vsphere_host_"] {
        t.attach(&prod, &("HostSystem", host.clone())).await;
    }
    let (stdout, stderr) = common::once_ok(&cfg, &["--output", "-"]).await;
    assert!(sim.url.starts_with("https://"), "{}", sim.url);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("vsphere_host_cpu,") && l.contains(",env=prod,")),
        "{stdout}\n{stderr}"
    );
}
