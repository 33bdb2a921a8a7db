use super::*;
use crate::contract::EntityKind;
use std::time::Duration;

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(Path::new("/etc/vcollect/test.toml"), text)
}

fn with_password(extra: &str) -> String {
    std::env::set_var("VCOLLECT_TEST_PW", "secret");
    format!(
        r#"
[[vcenter]]
name = "vc1"
url = "https://vc1.example.com/sdk"
username = "svc"
password_env = "VCOLLECT_TEST_PW"
{extra}
"#
    )
}

fn invalid_key(r: Result<Config, ConfigError>) -> (String, String) {
    match r {
        Err(ConfigError::Invalid { key, problem, .. }) => (key, problem),
        Err(other) => panic!("expected Invalid, got {other}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn the_issue_example_loads_with_documented_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("vc1.password");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let text = format!(
        r#"
[node]
data_dir = "/var/lib/vcollect"

[[vcenter]]
name = "vc1"
url = "https://vc1.example.com/sdk"
username = "svc-metrics@vsphere.local"
password_file = "{}"
insecure = false

[collect]
interval = "60s"
lookback = "5m"
vm_counters = ["cpu.usage.average", "mem.usage.average"]
host_counters = ["cpu.usage.average"]

[output]
url = "http://127.0.0.1:8086"
database = "vsphere"
"#,
        pw.display()
    );
    let c = load(&text).unwrap();
    assert_eq!(
        c.vcenters[0].password.expose(),
        "s3cret",
        "trailing newline trimmed"
    );
    assert_eq!(c.collect.interval, Duration::from_secs(60));
    assert_eq!(c.collect.lookback, Duration::from_secs(300));
    assert_eq!(c.collect.kind(EntityKind::Vm).counters.len(), 2);
    assert!(c.collect.kind(EntityKind::Vm).instances);
    assert_eq!(c.collect.discovery_interval, Duration::from_secs(300));
    assert!(
        matches!(&c.outputs[0].endpoint.api, OutputApi::V1 { database, .. } if database == "vsphere")
    );
    assert!(c.cluster.is_none());
    assert!(
        !format!("{c:?}").contains("s3cret"),
        "secrets never in Debug output"
    );
}

#[test]
fn default_counter_lists_are_used_when_absent() {
    let c = load(&with_password("")).unwrap();
    assert_eq!(
        c.collect.kind(EntityKind::Vm).counters.len(),
        DEFAULT_VM_COUNTERS.len()
    );
    assert!(c
        .collect
        .kind(EntityKind::Host)
        .counters
        .iter()
        .any(|n| n == "cpu.usage.average"));
    for kind in EntityKind::ALL {
        assert_eq!(c.collect.kind(kind).counters, default_counters(kind));
    }
    assert_eq!(c.collect.historical_interval, None);
}

#[test]
fn telegraf_kind_keys_are_read() {
    let c = load(&with_password(
        r#"[collect]
cluster_include = ["/DC0/host/**"]
datastore_exclude = ["/*/datastore/local-*"]
datacenter_metric_exclude = []
resource_pool_instances = true
resourcepool_metric_include = ["cpu.*", "mem.usage.average"]
vm_metric_exclude = ["*"]
historical_interval = "30m"
custom_attribute_include = ["Owner"]
ip_addresses = ["ipv4"]
"#,
    ))
    .unwrap();
    let k = |kind| c.collect.kind(kind);
    assert_eq!(k(EntityKind::Cluster).include, ["/DC0/host/**"]);
    assert_eq!(k(EntityKind::Datastore).exclude, ["/*/datastore/local-*"]);
    assert!(k(EntityKind::Datacenter).enabled());
    assert!(!k(EntityKind::Vm).enabled());
    assert!(k(EntityKind::ResourcePool).instances);
    assert_eq!(k(EntityKind::ResourcePool).metric_include.len(), 2);
    assert_eq!(
        c.collect.historical_interval,
        Some(Duration::from_secs(1800))
    );
    assert_eq!(c.collect.custom_attribute_include, ["Owner"]);
    assert_eq!(c.collect.ip_addresses, [IpFamily::Ipv4]);
}

#[test]
fn telegraf_kind_keys_are_checked_by_name() {
    let (key, problem) = invalid_key(load(&with_password(
        "[collect]\ncluster_metric_includes = [\"cpu.*\"]\n",
    )));
    assert_eq!(key, "collect.cluster_metric_includes");
    assert!(problem.contains("not a known key"), "{problem}");
    let (key, problem) = invalid_key(load(&with_password(
        "[collect]\nhost_instances = \"yes\"\n",
    )));
    assert_eq!(key, "collect.host_instances");
    assert!(problem.contains("true or false"), "{problem}");
    let (key, _) = invalid_key(load(&with_password(
        "[collect]\nvm_include = [\"DC0/vm/**\"]\n",
    )));
    assert_eq!(key, "collect.vm_include[0]");
    let (key, problem) = invalid_key(load(&with_password(
        "[collect]\nhost_counters = [\"cpu.usage.average\"]\nhost_metric_include = [\"cpu.*\"]\n",
    )));
    assert_eq!(key, "collect.host_metric_include");
    assert!(problem.contains("not both"), "{problem}");
    let (key, _) = invalid_key(load(&with_password(
        "[collect]\nhistorical_interval = \"5s\"\n",
    )));
    assert_eq!(key, "collect.historical_interval");
}

#[test]
fn unknown_keys_are_refused_with_their_name() {
    let err = load(&with_password("insecur = true"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/etc/vcollect/test.toml"), "{err}");
    assert!(err.contains("insecur"), "{err}");
}

#[test]
fn missing_vcenter_url_names_the_key() {
    std::env::set_var("VCOLLECT_TEST_PW2", "x");
    let (key, problem) = invalid_key(load(
        "[[vcenter]]\nname = \"a\"\nusername = \"u\"\npassword_env = \"VCOLLECT_TEST_PW2\"\n",
    ));
    assert_eq!(key, "vcenter[0].url");
    assert_eq!(problem, "is required");
}

#[test]
fn bad_counter_names_are_refused() {
    let (key, problem) = invalid_key(load(&with_password(
        "[collect]\nvm_counters = [\"cpu.usage.average\", \"cpu.usage\"]",
    )));
    assert_eq!(key, "collect.vm_counters[1]");
    assert!(problem.contains("\"cpu.usage\""), "{problem}");
}

#[test]
fn a_missing_password_file_names_file_and_key() {
    let text = "[[vcenter]]\nname = \"a\"\nurl = \"https://a/sdk\"\nusername = \"u\"\n\
                password_file = \"/nonexistent/pw\"\n";
    let (key, problem) = invalid_key(load(text));
    assert_eq!(key, "vcenter[0].password_file");
    assert!(problem.contains("/nonexistent/pw"), "{problem}");
}

#[test]
fn a_password_is_required() {
    let text = "[[vcenter]]\nname = \"a\"\nurl = \"https://a/sdk\"\nusername = \"u\"\n";
    let (key, _) = invalid_key(load(text));
    assert_eq!(key, "vcenter[0].password_file");
}

#[test]
fn duplicate_vcenter_names_are_refused() {
    let one = with_password("");
    let twice = format!("{one}\n{}", one.clone());
    let (key, problem) = invalid_key(load(&twice));
    assert_eq!(key, "vcenter[1].name");
    assert!(problem.contains("vc1"));
}

#[test]
fn lookback_is_capped_at_what_vcenter_keeps() {
    let (key, _) = invalid_key(load(&with_password("[collect]\nlookback = \"2h\"")));
    assert_eq!(key, "collect.lookback");
}

#[test]
fn bad_durations_and_urls_are_refused() {
    let err = load(&with_password("[collect]\ninterval = \"soon\"")).unwrap_err();
    assert!(err.to_string().contains("interval"), "{err}");
    let (key, _) = invalid_key(load(&with_password("[output]\nurl = \"ftp://x\"")));
    assert_eq!(key, "output.url");
}

#[test]
fn influx2_needs_a_token_and_excludes_database() {
    let (key, _) = invalid_key(load(&with_password(
        "[output]\norg = \"o\"\nbucket = \"b\"",
    )));
    assert_eq!(key, "output.token_file");
    std::env::set_var("VCOLLECT_TEST_TOKEN", "t");
    let c = load(&with_password(
        "[output]\norg = \"o\"\nbucket = \"b\"\ntoken_env = \"VCOLLECT_TEST_TOKEN\"",
    ))
    .unwrap();
    assert!(matches!(c.outputs[0].endpoint.api, OutputApi::V2 { .. }));
    let (key, _) = invalid_key(load(&with_password(
        "[output]\ndatabase = \"d\"\norg = \"o\"\nbucket = \"b\"\ntoken_env = \"VCOLLECT_TEST_TOKEN\"",
    )));
    assert_eq!(key, "output.database");
}

#[test]
fn stdout_output_is_allowed() {
    let c = load(&with_password("[output]\nurl = \"-\"")).unwrap();
    assert_eq!(c.outputs[0].endpoint.url, "-");
}

#[test]
fn cluster_keys_defaults_and_checks() {
    std::env::set_var("VCOLLECT_TEST_CLUSTER_TOKEN", "tok");
    let base = r#"
[cluster]
peers = ["10.0.0.1:7400", "10.0.0.2:7400", "10.0.0.3:7400"]
token_env = "VCOLLECT_TEST_CLUSTER_TOKEN"
"#;
    let c = load(&with_password(base)).unwrap();
    let cc = c.cluster.unwrap();
    assert_eq!(cc.bootstrap_expect, 3);
    assert_eq!(cc.failure_timeout, Duration::from_secs(5));
    assert_eq!(cc.max_voters, 5);
    assert_eq!(cc.heartbeat_interval, Duration::from_millis(100));
    assert_eq!(cc.election_timeout, Duration::from_millis(300));
    assert!(cc.tls.is_none());
    assert_eq!(cc.token.unwrap().expose(), "tok");

    let (key, _) = invalid_key(load(&with_password(&format!(
        "{base}bootstrap_expect = 4\n"
    ))));
    assert_eq!(key, "cluster.bootstrap_expect");
    let (key, _) = invalid_key(load(&with_password(&format!(
        "{base}heartbeat_interval = \"200ms\"\nelection_timeout = \"300ms\"\n"
    ))));
    assert_eq!(key, "cluster.election_timeout");
    let (key, _) = invalid_key(load(&with_password(&format!("{base}tls_cert = \"/x\"\n"))));
    assert_eq!(key, "cluster.tls_cert");
    let (key, _) = invalid_key(load(&with_password(&format!("{base}max_voters = 0\n"))));
    assert_eq!(key, "cluster.max_voters");
    // Neither a token nor TLS: refused (every RPC must be authenticated).
    let (key, problem) = invalid_key(load(&with_password(
        "[cluster]\npeers = [\"10.0.0.1:7400\"]\n",
    )));
    assert_eq!(key, "cluster.token_file");
    assert!(problem.contains("authenticated"), "{problem}");

    let dir = tempfile::tempdir().unwrap();
    for f in ["c.pem", "k.pem", "ca.pem"] {
        std::fs::write(dir.path().join(f), "x").unwrap();
    }
    let tls = format!(
        "[cluster]\npeers = [\"10.0.0.1:7400\"]\ntls_cert = \"{0}/c.pem\"\ntls_key = \"{0}/k.pem\"\ntls_ca = \"{0}/ca.pem\"\n",
        dir.path().display()
    );
    let cc = load(&with_password(&tls)).unwrap().cluster.unwrap();
    assert!(cc.token.is_none());
    assert_eq!(cc.tls.unwrap().ca, dir.path().join("ca.pem"));
}

/// Every duration and size has a range; a value outside it is refused with the key's name
/// (a heartbeat_interval of 2^63 s used to overflow and panic).
#[test]
fn every_duration_and_size_is_range_checked() {
    std::env::set_var("VCOLLECT_TEST_CLUSTER_TOKEN", "tok");
    let cluster =
        "[cluster]\npeers = [\"10.0.0.1:7400\"]\ntoken_env = \"VCOLLECT_TEST_CLUSTER_TOKEN\"\n";
    let huge = "\"9223372036854775808s\"";
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{cluster}heartbeat_interval = {huge}\n"),
            "cluster.heartbeat_interval",
        ),
        (
            format!("{cluster}election_timeout = {huge}\n"),
            "cluster.election_timeout",
        ),
        (
            format!("{cluster}failure_timeout = {huge}\n"),
            "cluster.failure_timeout",
        ),
        (
            format!("{cluster}failure_timeout = \"1ms\"\n"),
            "cluster.failure_timeout",
        ),
        (
            format!("{cluster}max_voters = 100000\n"),
            "cluster.max_voters",
        ),
        (
            format!("[collect]\ninterval = {huge}\n"),
            "collect.interval",
        ),
        (
            "[collect]\ninterval = \"10ms\"\n".into(),
            "collect.interval",
        ),
        (
            format!("[collect]\nlookback = {huge}\n"),
            "collect.lookback",
        ),
        (
            format!("[collect]\ndiscovery_interval = {huge}\n"),
            "collect.discovery_interval",
        ),
        (
            "[collect]\nconcurrency = 1000000\n".into(),
            "collect.concurrency",
        ),
        (
            "[collect]\nmax_query_entities = 0\n".into(),
            "collect.max_query_entities",
        ),
        (
            "[collect]\nmax_query_metrics = 9223372036854775807\n".into(),
            "collect.max_query_metrics",
        ),
        (format!("[output]\ntimeout = {huge}\n"), "output.timeout"),
        (
            "[output]\nmax_retries = 4000000000\n".into(),
            "output.max_retries",
        ),
        (
            "[output]\nbatch_lines = 9223372036854775807\n".into(),
            "output.batch_lines",
        ),
        (
            "[output]\nbatch_bytes = 9223372036854775807\n".into(),
            "output.batch_bytes",
        ),
        (
            "[output]\nspool_max_bytes = 9223372036854775807\n".into(),
            "output.spool_max_bytes",
        ),
    ];
    for (extra, want) in cases {
        let (key, problem) = invalid_key(load(&with_password(&extra)));
        assert_eq!(key, want, "{extra}");
        assert!(problem.contains("must be between"), "{key}: {problem}");
    }
    let text = with_password("").replace(
        "[[vcenter]]",
        "[[vcenter]]\ntimeout = \"9223372036854775808s\"",
    );
    let (key, problem) = invalid_key(load(&text));
    assert_eq!(key, "vcenter[0].timeout");
    assert!(problem.contains("between 100ms and 1h"), "{problem}");
}

/// A secret file is read up to a small limit: `/dev/zero` fails at once.
#[test]
fn an_endless_password_file_is_refused() {
    let text = with_password("").replace(
        "password_env = \"VCOLLECT_TEST_PW\"",
        "password_file = \"/dev/zero\"",
    );
    let (key, problem) = invalid_key(load(&text));
    assert_eq!(key, "vcenter[0].password_file");
    assert!(problem.contains("larger than 65536 bytes"), "{problem}");
}

#[test]
fn without_a_name_the_vcenter_tag_is_the_url_host_as_telegraf_writes_it() {
    std::env::set_var("VCOLLECT_TEST_PW3", "secret");
    let one = |url: &str| {
        format!("[[vcenter]]\nurl = \"{url}\"\nusername = \"u\"\npassword_env = \"VCOLLECT_TEST_PW3\"\n")
    };
    let name = |url: &str| load(&one(url)).unwrap().vcenters[0].name.clone();
    assert_eq!(name("https://VC1.example.com/sdk"), "VC1.example.com");
    assert_eq!(
        name("https://vc1.example.com:443/sdk"),
        "vc1.example.com:443"
    );
    assert_eq!(name("https://svc@[::1]:8989/sdk"), "[::1]:8989");
    // Two vCenters that differ only by path need names.
    let two = format!("{}{}", one("https://vc/a"), one("https://vc/b"));
    let (key, problem) = invalid_key(load(&two));
    assert_eq!(key, "vcenter[1].name");
    assert!(problem.contains("set `name`"), "{problem}");
}

#[test]
fn tls_thumbprint_is_checked_and_stands_alone() {
    let sha1 = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01";
    let c = load(&with_password(&format!("tls_thumbprint = \"{sha1}\""))).unwrap();
    assert_eq!(c.vcenters[0].tls_thumbprint.as_deref(), Some(sha1));
    let (key, problem) = invalid_key(load(&with_password("tls_thumbprint = \"AB:CD\"")));
    assert_eq!(key, "vcenter[0].tls_thumbprint");
    assert!(problem.contains("20 (SHA-1) or 32 (SHA-256)"), "{problem}");
    let both = format!("tls_thumbprint = \"{sha1}\"\ninsecure = true");
    let (key, _) = invalid_key(load(&with_password(&both)));
    assert_eq!(key, "vcenter[0].tls_thumbprint");
}

/// `(section, key)` of every key line of the example, commented (a default) or not.
fn example_keys() -> std::collections::BTreeSet<(String, String)> {
    let mut section = String::new();
    let mut keys = std::collections::BTreeSet::new();
    for line in EXAMPLE.lines() {
        let l = line.trim_start_matches('#').trim();
        if let Some(h) = l.strip_prefix('[') {
            if l.ends_with(']') && !l.contains(' ') {
                section = h.trim_matches(['[', ']']).to_string();
            }
            continue;
        }
        if let Some((k, _)) = l.split_once(" = ") {
            if !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                keys.insert((section.clone(), k.to_string()));
            }
        }
    }
    keys
}

/// `(section, key)` of every key the tables of docs/configuration.md document.
fn documented_keys() -> std::collections::BTreeSet<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
    let doc = std::fs::read_to_string(path).expect("docs/configuration.md");
    let mut section = String::new();
    let mut keys = std::collections::BTreeSet::new();
    for line in doc.lines() {
        if let Some(h) = line.strip_prefix("## `[") {
            section = h.split(']').next().unwrap_or("").trim_matches('[').into();
        } else if line.starts_with("## ") {
            section.clear();
        } else if let (false, Some(cell)) = (section.is_empty(), line.strip_prefix("| `")) {
            let first = cell.split(" |").next().unwrap_or("");
            for k in format!("`{first}").split('`').skip(1).step_by(2) {
                keys.insert((section.clone(), k.to_string()));
            }
        }
    }
    keys
}

#[test]
fn the_example_and_docs_configuration_md_name_the_same_keys() {
    let (ex, doc) = (example_keys(), documented_keys());
    assert!(ex.len() > 40, "{ex:?}");
    let undocumented: Vec<_> = ex.difference(&doc).collect();
    let missing: Vec<_> = doc.difference(&ex).collect();
    assert!(
        undocumented.is_empty() && missing.is_empty(),
        "in `vcollect config example` but not docs/configuration.md: {undocumented:?}; \
         documented but not in the example: {missing:?}"
    );
}

#[test]
fn the_example_validates_and_every_key_in_it_exists() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("vc1.password");
    std::fs::write(&pw, "secret\n").unwrap();
    let text = EXAMPLE.replace("/etc/vcollect/vc1.password", &pw.display().to_string());
    let cfg = load(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.vcenters[0].name, "vc1");
    assert!(cfg.cluster.is_none() && cfg.metrics.listen.is_none());
    // Uncommented, every key is one the file format knows, with a value of the right type.
    let all: String = EXAMPLE
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(r) if r.starts_with('[') && r.ends_with(']') && !r.contains(' ') => r,
            Some(r) if r.split_once(" = ").is_some_and(|(k, _)| !k.contains(' ')) => r,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let raw = match toml::from_str::<RawConfig>(&all) {
        Ok(raw) => raw,
        Err(e) => panic!("the example with every key uncommented: {e}"),
    };
    // [collect]'s per-kind keys are checked by name after serde.
    let check = Check {
        file: Path::new("example.toml"),
    };
    if let Err(e) = check.collect(raw.collect) {
        panic!("the example's [collect] with every key uncommented: {e}");
    }
}

#[test]
fn metrics_listen_must_be_an_address() {
    let ok = load(&with_password("[metrics]\nlisten = \"127.0.0.1:9273\"")).unwrap();
    assert_eq!(ok.metrics.listen.as_deref(), Some("127.0.0.1:9273"));
    let (key, problem) = invalid_key(load(&with_password("[metrics]\nlisten = \"9273\"")));
    assert_eq!(key, "metrics.listen");
    assert!(problem.contains("not an address:port"), "{problem}");
}

#[test]
fn several_outputs_each_with_a_name_and_its_own_keys() {
    let c = load(&with_password(
        r#"
[[output]]
url = "http://influx:8086"
batch_lines = 2000
[[output]]
type = "remote_write"
url = "http://prometheus:9090/api/v1/write"
[[output]]
type = "remote_write"
name = "vm-long-term"
url = "http://victoria:8428/api/v1/write"
[[output]]
type = "otlp"
url = "http://collector:4318/v1/metrics"
[[output]]
type = "otlp"
name = "otlp-grpc"
protocol = "grpc"
names = "otel"
url = "http://collector:4317"
"#,
    ))
    .unwrap();
    let names: Vec<_> = c.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "influx",
            "remote_write",
            "vm-long-term",
            "otlp",
            "otlp-grpc"
        ]
    );
    assert!(matches!(
        c.outputs[1].endpoint.api,
        OutputApi::RemoteWrite { .. }
    ));
    assert!(matches!(
        c.outputs[3].endpoint.api,
        OutputApi::Otlp { grpc: false, .. }
    ));
    assert!(matches!(
        c.outputs[4].endpoint.api,
        OutputApi::Otlp {
            grpc: true,
            names: crate::sink::otlp::Names::Otel,
            ..
        }
    ));
    assert!(matches!(
        c.outputs[3].endpoint.api,
        OutputApi::Otlp {
            names: crate::sink::otlp::Names::Telegraf,
            ..
        }
    ));
    assert!(
        c.outputs[3].endpoint.gzip,
        "OTLP bodies are gzipped by default"
    );
    assert_eq!((c.batch_lines(), c.batch_bytes()), (2000, 1 << 20));
    // The single table still works, as the one output.
    let one = load(&with_password("[output]\nurl = \"http://influx:8086\"")).unwrap();
    assert_eq!(one.outputs.len(), 1);
    assert_eq!(one.outputs[0].name, "influx");
}

#[test]
fn bad_outputs_are_named_by_their_index_and_key() {
    let two_influx = "[[output]]\nurl = \"http://a:8086\"\n[[output]]\nurl = \"http://b:8086\"";
    let (key, problem) = invalid_key(load(&with_password(two_influx)));
    assert_eq!(key, "output[1].name");
    assert!(problem.contains("\"influx\""), "{problem}");
    let stdout_too = "[[output]]\nurl = \"-\"\n[[output]]\ntype = \"remote_write\"\nurl = \"http://p:9090/api/v1/write\"";
    let (key, _) = invalid_key(load(&with_password(stdout_too)));
    assert_eq!(key, "output[0].url");
    let no_url = "[[output]]\nurl = \"http://a:8086\"\n[[output]]\ntype = \"remote_write\"";
    assert_eq!(invalid_key(load(&with_password(no_url))).0, "output[1].url");
    let influx_key = "[output]\ntype = \"remote_write\"\nurl = \"http://p/w\"\ndatabase = \"x\"";
    assert_eq!(
        invalid_key(load(&with_password(influx_key))).0,
        "output.database"
    );
    let otlp_bucket =
        "[output]\ntype = \"otlp\"\nurl = \"http://c:4318/v1/metrics\"\nbucket = \"x\"";
    let (key, problem) = invalid_key(load(&with_password(otlp_bucket)));
    assert_eq!(key, "output.bucket");
    assert!(problem.contains("\"otlp\""), "{problem}");
    let otlp_no_url = "[output]\ntype = \"otlp\"";
    assert_eq!(
        invalid_key(load(&with_password(otlp_no_url))).0,
        "output.url"
    );
    let otlp = "[output]\ntype = \"otlp\"\nurl = \"http://c:4317\"\nprotocol = ";
    let (key, problem) = invalid_key(load(&with_password(&format!("{otlp}\"grpcs\""))));
    assert_eq!(key, "output.protocol");
    assert!(
        problem.contains("\"grpcs\"") && problem.contains("\"grpc\""),
        "{problem}"
    );
    let (_, problem) = invalid_key(load(&with_password(&format!("{otlp}\"http/json\""))));
    assert!(problem.contains("not supported"), "{problem}");
    let grpc_path =
        "[output]\ntype = \"otlp\"\nprotocol = \"grpc\"\nurl = \"http://c:4317/v1/metrics\"";
    let (key, problem) = invalid_key(load(&with_password(grpc_path)));
    assert_eq!(key, "output.url");
    assert!(problem.contains("without a path"), "{problem}");
    let rw_protocol =
        "[output]\ntype = \"remote_write\"\nurl = \"http://p/w\"\nprotocol = \"grpc\"";
    let (key, problem) = invalid_key(load(&with_password(rw_protocol)));
    assert_eq!(key, "output.protocol");
    assert!(problem.contains("only with type = \"otlp\""), "{problem}");
    let otlp_names =
        "[output]\ntype = \"otlp\"\nurl = \"http://c:4318/v1/metrics\"\nnames = \"semconv\"";
    let (key, problem) = invalid_key(load(&with_password(otlp_names)));
    assert_eq!(key, "output.names");
    assert!(
        problem.contains("\"semconv\"") && problem.contains("\"otel\""),
        "{problem}"
    );
    let rw_names = "[output]\ntype = \"remote_write\"\nurl = \"http://p/w\"\nnames = \"otel\"";
    let (key, problem) = invalid_key(load(&with_password(rw_names)));
    assert_eq!(key, "output.names");
    assert!(problem.contains("only with type = \"otlp\""), "{problem}");
    let bad_type = "[output]\ntype = \"kafka\"";
    let (key, problem) = invalid_key(load(&with_password(bad_type)));
    assert_eq!(key, "output.type");
    assert!(
        problem.contains("remote_write") && problem.contains("otlp"),
        "{problem}"
    );
    let bad_name = "[output]\nname = \"../x\"";
    assert_eq!(invalid_key(load(&with_password(bad_name))).0, "output.name");
    match load(&with_password(
        "[[output]]\nurl = \"http://a\"\ndatabse = \"x\"",
    )) {
        Err(ConfigError::Parse { message, .. }) => {
            assert!(
                message.contains("output[0]") && message.contains("databse"),
                "{message}"
            )
        }
        other => panic!("expected a parse error naming output[0], got {other:?}"),
    }
}

#[test]
fn tag_category_patterns_are_checked() {
    let c = load(&with_password(
        "[collect]\ntag_categories_include = [\"*\"]\ntag_categories_exclude = [\"secret[0-9]\"]\n",
    ))
    .unwrap();
    assert_eq!(c.collect.tag_categories_include, ["*"]);
    assert_eq!(c.collect.tag_categories_exclude, ["secret[0-9]"]);
    assert!(load(&with_password(""))
        .unwrap()
        .collect
        .tag_categories_include
        .is_empty());
    let (key, problem) = invalid_key(load(&with_password(
        "[collect]\ntag_categories_include = [\"env\", \"app[0-9\"]\n",
    )));
    assert_eq!(key, "collect.tag_categories_include[1]");
    assert!(
        problem.contains("\"app[0-9\" has a [ class without its closing ]"),
        "{problem}"
    );
    let (key, problem) = invalid_key(load(&with_password(
        "[collect]\ntag_categories_exclude = [\"x\\\\\"]\n",
    )));
    assert_eq!(key, "collect.tag_categories_exclude[0]");
    assert!(problem.contains("ends with a lone \\"), "{problem}");
    let (key, problem) = invalid_key(load(&with_password(
        "[collect]\ntag_categories_include = [\" \"]\n",
    )));
    assert_eq!(key, "collect.tag_categories_include[0]");
    assert!(problem.contains("is empty"), "{problem}");
}

#[test]
fn event_keys_default_to_the_documented_set_and_are_checked() {
    let c = load(&with_password("")).unwrap();
    assert!(!c.collect.events);
    assert_eq!(
        c.collect.event_include.len(),
        crate::config::DEFAULT_EVENT_TYPES.len()
    );
    assert!(c
        .collect
        .event_include
        .iter()
        .any(|t| t == "VmPoweredOffEvent"));
    // Every default is in the documented list (docs/configuration.md, `event_include`).
    let docs = include_str!("../../docs/configuration.md");
    for t in crate::config::DEFAULT_EVENT_TYPES {
        assert!(docs.contains(&format!("`{t}`")), "{t} is not documented");
    }
    let c = load(&with_password(
        "[collect]\nevents = true\nevent_include = [\"Vm*\"]\nevent_exclude = [\"VmBeing*\"]\n",
    ))
    .unwrap();
    assert!(c.collect.events);
    assert_eq!(c.collect.event_include, ["Vm*"]);
    let (key, problem) = invalid_key(load(&with_password(
        "[collect]\nevent_exclude = [\"[Vm\"]\n",
    )));
    assert_eq!(key, "collect.event_exclude[0]");
    assert!(problem.contains("closing ]"), "{problem}");
}

#[test]
fn vsan_keys_are_telegrafs_and_off_by_default() {
    let c = load(&with_password("")).unwrap();
    assert!(!c.collect.vsan.enabled());
    assert_eq!(c.collect.vsan.interval, Duration::from_secs(300));
    assert_eq!(c.collect.vsan.cluster_include, ["/*/host/**"]);
    let on = load(&with_password(
        "[collect]\nvsan_metric_exclude = []\nvsan_metric_include = [\"summary.*\"]\nvsan_interval = \"30s\"\nvsan_cluster_include = [\"/DC0/host/vsan*\"]\n",
    ))
    .unwrap();
    assert!(on.collect.vsan.enabled());
    assert_eq!(on.collect.vsan.interval, Duration::from_secs(30));
    assert_eq!(on.collect.vsan.metric_include, ["summary.*"]);
    // vSAN alone is something to collect.
    let only = "[collect]\nvsan_metric_exclude = []\nvm_metric_exclude = [\"*\"]\nhost_metric_exclude = [\"*\"]\ncluster_metric_exclude = [\"*\"]\ndatastore_metric_exclude = [\"*\"]\nresource_pool_metric_exclude = [\"*\"]\n";
    assert!(
        load(&with_password(only)).is_ok(),
        "{:?}",
        load(&with_password(only)).err()
    );
    for (extra, key) in [
        ("vsan_interval = \"10s\"", "collect.vsan_interval"),
        ("vsan_interval = \"45s\"", "collect.vsan_interval"),
        (
            "vsan_metric_skip_verify = true",
            "collect.vsan_metric_skip_verify",
        ),
        (
            "vsan_cluster_include = [\"DC0/host\"]",
            "collect.vsan_cluster_include[0]",
        ),
        (
            "vsan_metric_include = [\"summary.[\"]",
            "collect.vsan_metric_include[0]",
        ),
    ] {
        let (k, problem) = invalid_key(load(&with_password(&format!("[collect]\n{extra}\n"))));
        assert_eq!(k, key, "{extra}: {problem}");
    }
}
