use std::path::Path;

use toml::Value;

use super::values::{go_duration, secret_ref, SecretRef};
use super::*;

const SAMPLE: &str = include_str!("../../../tests/fixtures/telegraf/sample.conf");

fn conv(text: &str) -> String {
    convert(Path::new("telegraf.conf"), text, Path::new("/etc/vcollect"))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The converted text, parsed back.
fn parsed(text: &str) -> (String, toml::Table) {
    let out = conv(text);
    let t: toml::Table = out.parse().unwrap_or_else(|e| panic!("{e}\n{out}"));
    (out, t)
}

fn vcenters(t: &toml::Table) -> Vec<toml::Table> {
    t["vcenter"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_table().unwrap().clone())
        .collect()
}

fn collect(t: &toml::Table) -> &toml::Table {
    t["collect"].as_table().unwrap()
}

fn output(t: &toml::Table) -> &toml::Table {
    t["output"].as_table().unwrap()
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

#[test]
fn telegrafs_sample_conf_becomes_one_vcenter_with_its_counters() {
    let (out, t) = parsed(SAMPLE);
    let vc = vcenters(&t);
    assert_eq!(vc.len(), 1);
    assert_eq!(vc[0]["url"].as_str(), Some("https://vcenter.local/sdk"));
    assert!(vc[0].get("name").is_none(), "the host is the default name");
    assert_eq!(vc[0]["username"].as_str(), Some("user@corp.local"));
    assert_eq!(
        vc[0]["password_file"].as_str(),
        Some("/etc/vcollect/vcenter.local.password")
    );
    assert!(!out.contains("\"secret\""), "{out}");
    let c = collect(&t);
    assert_eq!(strs(&c["vm_metric_include"]).len(), 34);
    assert_eq!(strs(&c["host_metric_include"]).len(), 46);
    // Kinds without a metric list: Telegraf collects every metric.
    for kind in ["cluster", "datastore", "resource_pool"] {
        assert_eq!(strs(&c[&format!("{kind}_metric_include")]), ["*"], "{kind}");
    }
    assert_eq!(strs(&c["datacenter_metric_exclude"]), ["*"]);
    assert_eq!(c["interval"].as_str(), Some("10s"));
    assert!(out.contains("no [[outputs.influxdb]]"), "{out}");
    assert!(out.contains("`host` tag"), "{out}");
}

#[test]
fn passwords_become_env_keys_or_files_and_are_never_printed() {
    let text = r#"
[[inputs.vsphere]]
  vcenters = ["https://vc1.example.com/sdk", "https://vc2.example.com/sdk"]
  username = "svc"
  password = "${VC_PASSWORD}"
[[inputs.vsphere]]
  vcenters = ["vc3.example.com"]
  username = "svc"
  password = "$VC3_PASSWORD"
[[inputs.vsphere]]
  vcenters = ["https://vc4.example.com/sdk"]
  username = "svc"
  password = "@{vault:vc4_password}"
[[inputs.vsphere]]
  vcenters = ["https://vc5.example.com/sdk"]
  username = "svc"
  password = "hunter2-literal"
  tls_key_pwd = "hunter3-key"
[[inputs.vsphere]]
  vcenters = ["https://admin%40corp:hunter4-url@vc6.example.com/sdk"]
  password = "${VC6:-fallback-hunter5}"
"#;
    let (out, t) = parsed(text);
    for secret in ["hunter2", "hunter3", "hunter4", "hunter5"] {
        assert!(!out.contains(secret), "{secret} printed:\n{out}");
    }
    let vc = vcenters(&t);
    assert_eq!(vc.len(), 6);
    assert_eq!(vc[0]["password_env"].as_str(), Some("VC_PASSWORD"));
    assert_eq!(vc[1]["password_env"].as_str(), Some("VC_PASSWORD"));
    assert_eq!(vc[2]["url"].as_str(), Some("https://vc3.example.com/sdk"));
    assert_eq!(vc[2]["password_env"].as_str(), Some("VC3_PASSWORD"));
    assert_eq!(
        vc[3]["password_file"].as_str(),
        Some("/etc/vcollect/vc4.example.com.password")
    );
    assert!(
        out.contains("secret store `vault` (key `vc4_password`)"),
        "{out}"
    );
    assert_eq!(
        vc[4]["password_file"].as_str(),
        Some("/etc/vcollect/vc5.example.com.password")
    );
    assert!(out.contains("`tls_key_pwd`: client certificates"), "{out}");
    // The URL's user info: Telegraf uses it when `username` is unset.
    assert_eq!(vc[5]["url"].as_str(), Some("https://vc6.example.com/sdk"));
    assert_eq!(vc[5]["username"].as_str(), Some("admin@corp"));
    assert_eq!(
        vc[5]["password_file"].as_str(),
        Some("/etc/vcollect/vc6.example.com.password")
    );
}

#[test]
fn a_url_listed_twice_is_one_vcenter_and_shared_hosts_get_names() {
    let text = r#"
[[inputs.vsphere]]
  vcenters = ["https://vc1/sdk", "https://vc1/other"]
  username = "u"
  password = "$P"
[[inputs.vsphere]]
  vcenters = ["https://vc1/sdk"]
  username = "u"
  password = "$P"
"#;
    let (out, t) = parsed(text);
    let vc = vcenters(&t);
    assert_eq!(vc.len(), 2);
    assert!(vc[0].get("name").is_none());
    assert_eq!(vc[1]["name"].as_str(), Some("vc1-2"));
    assert!(
        out.contains("Also listed in [[inputs.vsphere]] #2 (line 6)"),
        "{out}"
    );
}

#[test]
fn tls_and_timeout_carry_over() {
    let text = r#"
[[inputs.vsphere]]
  vcenters = ["https://vc1/sdk"]
  username = "u"
  password = "$P"
  tls_ca = "/etc/ssl/vc-ca.pem"
  insecure_skip_verify = true
  timeout = "1m30s"
"#;
    let (_, t) = parsed(text);
    let vc = &vcenters(&t)[0];
    assert_eq!(vc["ca_file"].as_str(), Some("/etc/ssl/vc-ca.pem"));
    assert_eq!(vc["insecure"].as_bool(), Some(true));
    assert_eq!(vc["timeout"].as_str(), Some("1m 30s"));
}

#[test]
fn collect_keys_are_renamed_and_disagreements_named() {
    let text = r#"
[agent]
  interval = "60s"
[[inputs.vsphere]]
  vcenters = ["https://vc1/sdk"]
  username = "u"
  password = "$P"
  object_discovery_interval = "10m"
  max_query_objects = 128
  max_query_metrics = 64
  collect_concurrency = 3
  historical_interval = "300s"
  ip_addresses = ["ipv4", "ipv5"]
  vm_instances = false
  vm_include = ["/DC1/vm/**"]
  host_propertie_include = ["summary.overallStatus"]
[[inputs.vsphere]]
  interval = "20s"
  vcenters = ["https://vc2/sdk"]
  username = "u"
  password = "$P"
  collect_concurrency = 5
"#;
    let (out, t) = parsed(text);
    let c = collect(&t);
    assert_eq!(c["interval"].as_str(), Some("1m"));
    assert_eq!(c["discovery_interval"].as_str(), Some("10m"));
    assert_eq!(c["max_query_entities"].as_integer(), Some(128));
    assert_eq!(c["max_query_metrics"].as_integer(), Some(64));
    assert_eq!(c["concurrency"].as_integer(), Some(3));
    assert_eq!(c["historical_interval"].as_str(), Some("5m"));
    assert_eq!(strs(&c["ip_addresses"]), ["ipv4"]);
    assert_eq!(c["vm_instances"].as_bool(), Some(false));
    assert_eq!(strs(&c["vm_include"]), ["/DC1/vm/**"]);
    assert_eq!(strs(&c["host_property_include"]), ["summary.overallStatus"]);
    assert!(out.contains("\"ipv5\"] not carried over"), "{out}");
    assert!(
        out.contains("`collect_concurrency` differs between the [[inputs.vsphere]] blocks")
            && out
                .contains("[[inputs.vsphere]] #1 (line 4): 3; [[inputs.vsphere]] #2 (line 17): 5"),
        "{out}"
    );
    assert!(out.contains("`interval` differs"), "{out}");
    assert!(
        out.contains("vm_include, vm_instances differ(s) in [[inputs.vsphere]] #2"),
        "{out}"
    );
}

#[test]
fn a_kind_comes_from_the_first_block_that_collects_it() {
    // Telegraf's usual split: realtime kinds in one block, historical ones in another.
    let text = r#"
[[inputs.vsphere]]
  vcenters = ["https://vc1/sdk"]
  username = "u"
  password = "$P"
  cluster_metric_exclude = ["*"]
  datastore_metric_exclude = ["*"]
[[inputs.vsphere]]
  vcenters = ["https://vc1/sdk"]
  username = "u"
  password = "$P"
  vm_metric_exclude = ["*"]
  host_metric_exclude = ["*"]
  cluster_metric_include = ["cpu.usage.*"]
  datastore_instances = true
"#;
    let (out, t) = parsed(text);
    let c = collect(&t);
    assert_eq!(strs(&c["vm_metric_include"]), ["*"]);
    assert!(c.get("vm_metric_exclude").is_none());
    assert_eq!(strs(&c["cluster_metric_include"]), ["cpu.usage.*"]);
    assert!(c.get("cluster_metric_exclude").is_none());
    assert_eq!(c["datastore_instances"].as_bool(), Some(true));
    assert!(
        out.contains("[[inputs.vsphere]] #1 (line 2) switches cluster metrics off"),
        "{out}"
    );
    assert!(
        out.contains("[[inputs.vsphere]] #2 (line 8) switches vm metrics off"),
        "{out}"
    );
}

#[test]
fn custom_attributes_follow_telegrafs_defaults() {
    let base = "[[inputs.vsphere]]\nvcenters = [\"https://vc1/sdk\"]\nusername = \"u\"\npassword = \"$P\"\n";
    let (_, t) = parsed(base);
    assert!(collect(&t).get("custom_attribute_include").is_none());
    let (_, t) = parsed(&format!("{base}custom_attribute_exclude = []\n"));
    assert_eq!(strs(&collect(&t)["custom_attribute_include"]), ["*"]);
    let (_, t) = parsed(&format!(
        "{base}custom_attribute_exclude = [\"secret*\"]\ncustom_attribute_include = [\"app\", \"owner\"]\n"
    ));
    assert_eq!(
        strs(&collect(&t)["custom_attribute_include"]),
        ["app", "owner"]
    );
    assert_eq!(strs(&collect(&t)["custom_attribute_exclude"]), ["secret*"]);
    let (out, _) = parsed(&format!("{base}custom_attribute_include = [\"app\"]\n"));
    assert!(
        out.contains("custom_attribute_include is not carried over"),
        "{out}"
    );
}

#[test]
fn an_influxdb_v1_output_carries_over_and_the_others_are_named() {
    let text = r#"
[[inputs.vsphere]]
  vcenters = ["https://vc1/sdk"]
  username = "u"
  password = "$P"
[[outputs.file]]
  files = ["stdout"]
[[outputs.influxdb]]
  urls = ["udp://127.0.0.1:8089", "http://influx1:8086", "http://influx2:8086"]
  database = "vsphere_db"
  retention_policy = "one_year"
  username = "writer"
  password = "hunter6"
  timeout = "15s"
  content_encoding = "identity"
  skip_database_creation = true
  http_headers = {Authorization = "Bearer hunter7"}
[[outputs.influxdb_v2]]
  urls = ["http://influx3:8086"]
"#;
    let (out, t) = parsed(text);
    assert!(
        !out.contains("hunter6") && !out.contains("hunter7"),
        "{out}"
    );
    let o = output(&t);
    assert_eq!(o["url"].as_str(), Some("http://influx1:8086"));
    assert_eq!(o["database"].as_str(), Some("vsphere_db"));
    assert_eq!(o["retention_policy"].as_str(), Some("one_year"));
    assert_eq!(o["username"].as_str(), Some("writer"));
    assert_eq!(
        o["password_file"].as_str(),
        Some("/etc/vcollect/influxdb.password")
    );
    assert_eq!(o["timeout"].as_str(), Some("15s"));
    assert_eq!(o["gzip"].as_bool(), Some(false));
    assert!(
        out.contains("urls: udp://127.0.0.1:8089 not carried over"),
        "{out}"
    );
    assert!(
        out.contains("urls: http://influx2:8086 not carried over"),
        "{out}"
    );
    assert!(
        out.contains("`skip_database_creation = true` not carried over"),
        "{out}"
    );
    assert!(out.contains("`http_headers` not carried over"), "{out}");
    assert!(
        out.contains("[[outputs.file]] #1 (line 6) not carried over"),
        "{out}"
    );
    assert!(
        out.contains("[[outputs.influxdb_v2]] #1 (line 18) not carried over"),
        "{out}"
    );
}

#[test]
fn an_influxdb_v1_output_without_database_writes_to_telegrafs() {
    let text = "[[inputs.vsphere]]\nvcenters = [\"https://vc1/sdk\"]\nusername = \"u\"\npassword = \"$P\"\n[[outputs.influxdb]]\n";
    let (_, t) = parsed(text);
    assert_eq!(output(&t)["database"].as_str(), Some("telegraf"));
    assert_eq!(output(&t)["url"].as_str(), Some("http://localhost:8086"));
}

#[test]
fn an_influxdb_v2_output_carries_over() {
    let text = r#"
[[inputs.vsphere]]
  vcenters = ["https://vc1/sdk"]
  username = "u"
  password = "$P"
[[outputs.influxdb_v2]]
  urls = ["https://influx.example.com"]
  organization = "ops"
  bucket = "vsphere"
  token = "${INFLUX_TOKEN}"
  content_encoding = "gzip"
"#;
    let (_, t) = parsed(text);
    let o = output(&t);
    assert_eq!(o["url"].as_str(), Some("https://influx.example.com"));
    assert_eq!(o["org"].as_str(), Some("ops"));
    assert_eq!(o["bucket"].as_str(), Some("vsphere"));
    assert_eq!(o["token_env"].as_str(), Some("INFLUX_TOKEN"));
    assert_eq!(o["gzip"].as_bool(), Some(true));
    assert!(o.get("database").is_none());
}

#[test]
fn everything_not_carried_over_is_named() {
    let text = r#"
[global_tags]
  dc = "paris"
[agent]
  interval = "20s"
  flush_interval = "10s"
  omit_hostname = true
[[inputs.vsphere]]
  vcenters = ["https://vc1/sdk"]
  username = "u"
  password = "$P"
  vsan_metric_include = ["summary.*"]
  separator = "."
  use_int_samples = false
  metric_lookback = 5
  made_up_option = 1
  made_up_urls = ["https://u:hunter8@vc9/sdk"]
  [inputs.vsphere.tags]
    env = "prod"
[[inputs.cpu]]
[[processors.rename]]
"#;
    let (out, _) = parsed(text);
    for needle in [
        "`vsan_metric_include` (and any other vsan_* key) not carried over",
        "`separator = \".\"`: vcollect always writes `_`",
        "`use_int_samples = false`",
        "`metric_lookback = 5`",
        "`made_up_option = 1`: not a key",
        "`tags`: vcollect adds no static tags",
        "[agent] `flush_interval = \"10s\"`",
        "[agent] `omit_hostname = true`",
        "[global_tags] `dc = \"paris\"`",
        "[[inputs.cpu]] #1 (line 20): vcollect collects vSphere only",
        "[[processors.rename]] #1 (line 21)",
    ] {
        assert!(out.contains(needle), "{needle} missing:\n{out}");
    }
    assert!(!out.contains("Telegraf added a `host` tag"), "{out}");
    assert!(
        !out.contains("hunter8") && out.contains("`made_up_urls`"),
        "{out}"
    );
}

#[test]
fn errors_name_the_file_and_the_problem() {
    let f = Path::new("/etc/telegraf/telegraf.conf");
    let dir = Path::new("/etc/vcollect");
    let e = convert(f, "[[inputs.vsphere]]\nvcenters = [\n", dir).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ImportError::Parse { .. }), "{msg}");
    assert!(
        msg.contains("/etc/telegraf/telegraf.conf") && msg.contains("line"),
        "{msg}"
    );

    let e = convert(f, "[[inputs.cpu]]\n", dir).unwrap_err();
    assert!(matches!(e, ImportError::NoVsphere { .. }));
    assert!(e.to_string().contains("no [[inputs.vsphere]]"), "{e}");

    let e = convert(
        f,
        "[[inputs.vsphere]]\nvcenters = \"https://vc1/sdk\"\n",
        dir,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("[[inputs.vsphere]] #1 (line 1): key `vcenters`: must be a list"),
        "{e}"
    );
    let e = convert(
        f,
        "[[inputs.vsphere]]\nvcenters = [\"https://vc1/sdk\"]\ntimeout = \"soon\"\n",
        dir,
    )
    .unwrap_err();
    assert!(e.to_string().contains("key `timeout`"), "{e}");

    let e = import_file(Path::new("/nonexistent/telegraf.conf"), dir).unwrap_err();
    assert!(
        e.to_string()
            .contains("/nonexistent/telegraf.conf: cannot read it"),
        "{e}"
    );
}

#[test]
fn go_durations_parse_as_telegraf_reads_them() {
    use std::time::Duration;
    assert_eq!(go_duration("1m30s"), Some(Duration::from_secs(90)));
    assert_eq!(go_duration("1.5h"), Some(Duration::from_secs(5400)));
    assert_eq!(go_duration("300ms"), Some(Duration::from_millis(300)));
    assert_eq!(go_duration("0"), Some(Duration::ZERO));
    assert_eq!(go_duration("5 minutes"), None);
    assert_eq!(go_duration(""), None);
    assert_eq!(
        values::duration(&Value::Integer(30)),
        Ok(Duration::from_secs(30))
    );
}

#[test]
fn secret_references_are_recognised() {
    assert_eq!(
        secret_ref("${A_B}"),
        SecretRef::Env {
            var: "A_B".into(),
            fallback: false
        }
    );
    assert_eq!(
        secret_ref("${A:-x}"),
        SecretRef::Env {
            var: "A".into(),
            fallback: true
        }
    );
    assert_eq!(
        secret_ref("@{vault:vc1}"),
        SecretRef::Store {
            store: "vault".into(),
            key: "vc1".into()
        }
    );
    assert_eq!(secret_ref("pa$$word"), SecretRef::Literal);
    assert_eq!(secret_ref("pre${A}"), SecretRef::Literal);
    assert_eq!(secret_ref(""), SecretRef::Empty);
}

#[test]
fn plain_values_with_environment_references_get_a_comment() {
    let text = "[[inputs.vsphere]]\nvcenters = [\"https://${VC_HOST}/sdk\"]\nusername = \"${VC_USER}\"\npassword = \"$P\"\n";
    let out = conv(text);
    assert!(out.contains("url uses $VC_HOST"), "{out}");
    assert!(out.contains("username uses $VC_USER"), "{out}");
}

/// Converts `text` with secrets files in a temporary directory, creates every file the result
/// points to, and loads it as vcollect does (`vcollect validate`).
fn loads(text: &str) -> crate::config::Config {
    let dir = tempfile::tempdir().unwrap();
    let out = convert(Path::new("telegraf.conf"), text, dir.path()).unwrap();
    let t: toml::Table = out.parse().unwrap();
    let mut tables: Vec<&toml::Table> = t["vcenter"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_table)
        .collect();
    tables.push(output(&t));
    for table in tables {
        for key in ["password_file", "token_file"] {
            if let Some(f) = table.get(key).and_then(Value::as_str) {
                std::fs::write(f, "x\n").unwrap();
            }
        }
    }
    let file = dir.path().join("vcollect.toml");
    crate::config::Config::from_toml(&file, &out).unwrap_or_else(|e| panic!("{e}\n{out}"))
}

#[test]
fn what_it_prints_loads_as_a_vcollect_configuration() {
    use crate::contract::EntityKind;
    let c = loads(SAMPLE);
    assert_eq!(c.vcenters[0].name, "vcenter.local");
    let vm = c.collect.kind(EntityKind::Vm);
    assert_eq!(vm.metric_include.len(), 34);
    assert!(c.collect.kind(EntityKind::Cluster).enabled());
    assert!(!c.collect.kind(EntityKind::Datacenter).enabled());

    let c = loads(
        r#"
[agent]
  interval = "30s"
[[inputs.vsphere]]
  vcenters = ["https://vc1/sdk", "https://vc1:8443/sdk", "https://vc1/other"]
  username = "u"
  password = "literal"
  resource_pool_instances = true
  datacenter_metric_exclude = []
  custom_attribute_exclude = []
  object_discovery_interval = "0s"
  ip_addresses = ["ipv6"]
  timeout = "20s"
[[outputs.influxdb_v2]]
  urls = ["http://influx:8086"]
  organization = "o"
  bucket = "b"
  token = "literal-token"
"#,
    );
    let names: Vec<&str> = c.vcenters.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["vc1", "vc1:8443", "vc1-2"]);
    assert_eq!(c.collect.interval, std::time::Duration::from_secs(30));
    assert_eq!(
        c.collect.discovery_interval,
        std::time::Duration::from_secs(30)
    );
    assert!(c.collect.kind(EntityKind::ResourcePool).instances);
    assert!(c.collect.kind(EntityKind::Datacenter).enabled());
    assert_eq!(c.collect.custom_attribute_include, ["*"]);
    assert_eq!(c.vcenters[0].timeout, std::time::Duration::from_secs(20));
    assert!(matches!(
        c.outputs[0].endpoint.api,
        crate::config::OutputApi::V2 { .. }
    ));
}

#[test]
fn several_files_are_read_as_one_as_telegraf_reads_its_config_directory() {
    let main =
        "[agent]\n  interval = \"30s\"\n[[outputs.influxdb]]\n  urls = [\"http://influx:8086\"]\n";
    let vsphere = "[[inputs.vsphere]]\n  vcenters = [\"https://vc1/sdk\"]\n  username = \"u\"\n  password = \"$P\"\n  separator = \".\"\n";
    let files = [
        ("/etc/telegraf/telegraf.conf".into(), main.to_string()),
        (
            "/etc/telegraf/telegraf.d/vsphere.conf".into(),
            vsphere.to_string(),
        ),
    ];
    let out = convert_files(&files, Path::new("/etc/vcollect")).unwrap();
    let t: toml::Table = out.parse().unwrap();
    assert_eq!(collect(&t)["interval"].as_str(), Some("30s"));
    assert_eq!(output(&t)["url"].as_str(), Some("http://influx:8086"));
    assert!(
        out.contains(
            "[[inputs.vsphere]] #1 (/etc/telegraf/telegraf.d/vsphere.conf line 1) `separator"
        ),
        "{out}"
    );
    assert!(out.contains(
        "converted from /etc/telegraf/telegraf.conf, /etc/telegraf/telegraf.d/vsphere.conf"
    ));
    // Without the vsphere file there is nothing to import: the error names the file.
    let e = convert_files(&files[..1], Path::new("/etc/vcollect")).unwrap_err();
    assert!(
        e.to_string()
            .contains("/etc/telegraf/telegraf.conf: no [[inputs.vsphere]]"),
        "{e}"
    );
}

#[test]
fn values_outside_vcollects_ranges_are_brought_inside_with_a_comment() {
    let text = r#"
[[inputs.vsphere]]
  vcenters = ["https://vc1/sdk"]
  username = "u"
  password = "literal"
  collect_concurrency = 0
  max_query_objects = 1000000
  historical_interval = "30s"
  timeout = "2h"
[[outputs.influxdb]]
  timeout = "10ms"
"#;
    let out = conv(text);
    for note in [
        "concurrency: Telegraf's 0 is outside vcollect's range (1 to 1024): 1 instead.",
        "max_query_entities: Telegraf's 1000000 is outside vcollect's range (1 to 100000): 100000 instead.",
        "historical_interval: Telegraf's 30s is outside vcollect's range (1m to 1day): 1m instead.",
        "timeout: Telegraf's 2h is outside vcollect's range (100ms to 1h): 1h instead.",
        "timeout: Telegraf's 10ms is outside vcollect's range (100ms to 1h): 100ms instead.",
    ] {
        assert!(out.contains(note), "{note} missing:\n{out}");
    }
    let c = loads(text);
    assert_eq!(c.collect.concurrency, 1);
    assert_eq!(c.collect.max_query_entities, 100_000);
}

#[test]
fn awkward_strings_stay_valid_toml() {
    let text = "[[inputs.vsphere]]\nvcenters = ['https://vc1/sdk']\nusername = 'dom\\user \"q\"'\npassword = '$P'\nvm_include = [\"/DC \\\"1\\\"/vm/**\"]\nvm_exclude = [\"/a\\nb\", \"/c\", \"/d\", \"/e\"]\n";
    let (_, t) = parsed(text);
    assert_eq!(
        vcenters(&t)[0]["username"].as_str(),
        Some("dom\\user \"q\"")
    );
    assert_eq!(strs(&collect(&t)["vm_include"]), ["/DC \"1\"/vm/**"]);
    assert_eq!(
        strs(&collect(&t)["vm_exclude"]),
        ["/a\nb", "/c", "/d", "/e"]
    );
}

#[test]
fn a_remote_write_http_output_becomes_a_remote_write_output_beside_influxdb() {
    let text = r#"
[[inputs.vsphere]]
  vcenters = ["https://vc1/sdk"]
  username = "u"
  password = "$P"
[[outputs.influxdb]]
  urls = ["http://influx1:8086"]
[[outputs.http]]
  url = "https://mimir:9009/api/v1/push"
  data_format = "prometheusremotewrite"
  timeout = "7s"
  headers = {Content-Type = "application/x-protobuf", Content-Encoding = "snappy", Authorization = "Bearer s3cr3t"}
[[outputs.http]]
  url = "http://victoria:8428/api/v1/write"
  data_format = "prometheusremotewrite"
  username = "w"
  password = "pw"
[[outputs.prometheus_client]]
  listen = ":9273"
[[outputs.http]]
  url = "http://other/ingest"
  data_format = "json"
"#;
    let (out, t) = parsed(text);
    assert!(!out.contains("s3cr3t") && !out.contains("\"pw\""), "{out}");
    let tables: Vec<_> = t["output"]
        .as_array()
        .unwrap_or_else(|| panic!("[[output]] tables:\n{out}"))
        .iter()
        .map(|v| v.as_table().unwrap().clone())
        .collect();
    assert_eq!(tables.len(), 3, "{out}");
    assert_eq!(tables[0]["url"].as_str(), Some("http://influx1:8086"));
    assert_eq!(tables[1]["type"].as_str(), Some("remote_write"));
    assert_eq!(tables[1]["name"].as_str(), Some("remote_write-1"));
    assert_eq!(
        tables[1]["url"].as_str(),
        Some("https://mimir:9009/api/v1/push")
    );
    assert_eq!(tables[1]["timeout"].as_str(), Some("7s"));
    assert_eq!(
        tables[1]["token_file"].as_str(),
        Some("/etc/vcollect/remote_write.token")
    );
    assert_eq!(tables[2]["username"].as_str(), Some("w"));
    assert!(tables[2].contains_key("password_file"), "{out}");
    assert!(
        out.contains(
            "[[outputs.prometheus_client]] #1 (line 18) not carried over: vcollect pushes"
        ),
        "{out}"
    );
    assert!(
        out.contains("[[outputs.http]] #3 (line 20) not carried over"),
        "{out}"
    );
    // What it prints loads, once the secret files exist.
    let dir = tempfile::tempdir().unwrap();
    let out = convert(Path::new("telegraf.conf"), text, dir.path()).unwrap();
    for f in ["remote_write.token", "remote_write.password"] {
        std::fs::write(dir.path().join(f), "x\n").unwrap();
    }
    std::env::set_var("P", "secret");
    let c = crate::config::Config::from_toml(&dir.path().join("vcollect.toml"), &out)
        .unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(c.outputs.len(), 3);
}

#[test]
fn an_opentelemetry_output_becomes_an_otlp_output_over_grpc_to_the_same_address() {
    let text = r#"
[[inputs.vsphere]]
  vcenters = ["https://vc1/sdk"]
  username = "u"
  password = "$P"
[[outputs.opentelemetry]]
  service_address = "otel.example.com:4317"
  compression = "none"
  timeout = "5s"
  headers = {Authorization = "Bearer t0k"}
  attributes = {"service.name" = "x"}
"#;
    let (out, t) = parsed(text);
    assert!(!out.contains("t0k"), "{out}");
    let tables = t["output"].as_array().unwrap_or_else(|| panic!("{out}"));
    // The only output: Telegraf's file has no InfluxDB one.
    let o = tables.last().and_then(|v| v.as_table()).unwrap();
    assert_eq!(o["type"].as_str(), Some("otlp"));
    assert_eq!(o["protocol"].as_str(), Some("grpc"));
    assert_eq!(o["url"].as_str(), Some("http://otel.example.com:4317"));
    assert_eq!(o["gzip"].as_bool(), Some(false));
    assert_eq!(o["timeout"].as_str(), Some("5s"));
    assert_eq!(o["token_file"].as_str(), Some("/etc/vcollect/otlp.token"));
    assert!(out.contains("`attributes` not carried over"), "{out}");
}

#[test]
fn vsan_keys_carry_over_from_the_block_that_collects_vsan() {
    let c = loads(
        r#"
[[inputs.vsphere]]
  vcenters = ["https://vc1/sdk"]
  username = "u"
  password = "literal"
  vsan_metric_include = ["summary.*", "performance.host-domclient", "performance.cache-disk"]
  vsan_metric_exclude = []
  vsan_metric_skip_verify = true
  vsan_cluster_include = ["/DC0/host/vsan*"]
  vsan_interval = "45s"
[[outputs.influxdb]]
  urls = ["http://influx:8086"]
"#,
    );
    let v = &c.collect.vsan;
    assert!(v.enabled());
    assert!(v.skip_verify);
    assert_eq!(v.metric_include.len(), 3);
    assert_eq!(v.cluster_include, ["/DC0/host/vsan*"]);
    assert_eq!(v.interval, std::time::Duration::from_secs(60));
    let (out, _) = parsed(
        "[[inputs.vsphere]]\n  vcenters = [\"https://vc1/sdk\"]\n  username = \"u\"\n  password = \"$P\"\n  vsan_metric_exclude = []\n  vsan_interval = \"45s\"\n  vsan_propertie_include = [\"x\"]\n",
    );
    assert!(out.contains("vsan_interval: Telegraf's 45s"), "{out}");
    assert!(
        out.contains("`vsan_propertie_include = [\"x\"]`: vcollect writes no properties"),
        "{out}"
    );
    let off = loads("[[inputs.vsphere]]\n  vcenters = [\"https://vc1/sdk\"]\n  username = \"u\"\n  password = \"literal\"\n[[outputs.influxdb]]\n  urls = [\"http://influx:8086\"]\n");
    assert!(!off.collect.vsan.enabled());
}
