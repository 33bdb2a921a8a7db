//! Records the QueryPerf fixtures used by `benches/parse.rs` from the simulator:
//! 50 VMs × the default VM counters (instances "*") × 15 samples, in `normal` format as the
//! simulator sent it, and the same data rewritten as `csv` (the simulator cannot answer csv).
//!
//! Run: `cargo test --test vsphere_record -- --ignored`

mod common;

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use common::vcsim::{SimOptions, Simulator};
use vcollect::secret::Secret;
use vcollect::vsphere::{
    parse_perf_slice, request_body, Client, ClientOptions, EntityKind, EntityMetrics, MetricId,
    PerfFormat, PerfQuerySpec,
};

fn to_csv(entities: &[EntityMetrics]) -> String {
    let mut s = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><QueryPerfResponse xmlns="urn:vim25">"#,
    );
    for e in entities {
        s.push_str(&format!(
            r#"<returnval xsi:type="PerfEntityMetricCSV"><entity type="VirtualMachine">{}</entity><sampleInfoCSV>"#,
            e.moid
        ));
        let ts: Vec<String> = e
            .timestamps
            .iter()
            .map(|t| {
                let d = chrono::DateTime::from_timestamp(*t, 0).unwrap();
                format!("20,{}", d.format("%Y-%m-%dT%H:%M:%SZ"))
            })
            .collect();
        s.push_str(&ts.join(","));
        s.push_str("</sampleInfoCSV>");
        for series in e.series() {
            let v: Vec<String> = series.values.iter().map(|v| v.to_string()).collect();
            s.push_str(&format!(
                r#"<value xsi:type="PerfMetricSeriesCSV"><id><counterId>{}</counterId><instance>{}</instance></id><value>{}</value></value>"#,
                series.counter_id,
                series.instance,
                v.join(",")
            ));
        }
        s.push_str("</returnval>");
    }
    s.push_str("</QueryPerfResponse></soapenv:Body></soapenv:Envelope>");
    s
}

fn write_gz(path: &std::path::Path, data: &[u8]) {
    let f = std::fs::File::create(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::best());
    gz.write_all(data).unwrap();
    gz.finish().unwrap();
}

#[tokio::test]
#[ignore = "regenerates tests/fixtures/queryperf_*.xml.gz"]
async fn record_queryperf_fixtures() {
    let sim = Simulator::start(SimOptions {
        clusters: 1,
        hosts_per_cluster: 2,
        vms: 50,
        ..SimOptions::default()
    });
    let c = Client::connect(ClientOptions {
        name: "vcsim".into(),
        url: sim.url.clone(),
        username: "user".into(),
        password: Secret::new("pass"),
        ca_file: None,
        tls_thumbprint: None,
        insecure: false,
        timeout: Duration::from_secs(30),
    })
    .await
    .unwrap();
    let cat = c.counters().await.unwrap();
    let ids: Arc<[MetricId]> = vcollect::config::DEFAULT_VM_COUNTERS
        .iter()
        .filter_map(|n| cat.by_name(n))
        .map(|c| MetricId {
            counter_id: c.key,
            instance: "*".into(),
        })
        .collect();
    let end = c.current_time().await.unwrap() / 20 * 20 - 20;
    let specs: Vec<PerfQuerySpec> = c
        .inventory()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EntityKind::Vm)
        .map(|e| PerfQuerySpec {
            kind: e.kind,
            moid: e.moid,
            start: Some(end - 300),
            end: Some(end),
            max_sample: 15,
            metric_ids: ids.clone(),
            interval_id: 20,
            format: PerfFormat::Normal,
        })
        .collect();
    assert_eq!(specs.len(), 50);

    // Raw HTTP, to keep the body exactly as the simulator sent it.
    let http = reqwest::Client::new();
    let post = |body: String| {
        http.post(&sim.url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", "urn:vim25/6.5")
            .body(format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"#
            ))
    };
    let login = post(r#"<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this><userName>user</userName><password>pass</password></Login>"#.into())
        .send()
        .await
        .unwrap();
    let cookie = login
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let body = post(request_body("PerformanceManager", "PerfMgr", &specs))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    let mut entities = Vec::new();
    let stats = parse_perf_slice(&body, |e| entities.push(e)).unwrap();
    assert_eq!(stats.entities, 50);
    assert!(entities.iter().all(|e| e.timestamps.len() == 15));
    let csv = to_csv(&entities);
    let mut again = Vec::new();
    parse_perf_slice(csv.as_bytes(), |e| again.push(e)).unwrap();
    assert_eq!(again, entities);

    let dir = common::root().join("tests/fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    write_gz(&dir.join("queryperf_normal.xml.gz"), &body);
    write_gz(&dir.join("queryperf_csv.xml.gz"), csv.as_bytes());
    println!(
        "recorded {} entities, {} samples, {} bytes normal, {} bytes csv",
        stats.entities,
        entities
            .iter()
            .flat_map(|e| e.series())
            .map(|s| s.values.len())
            .sum::<usize>(),
        body.len(),
        csv.len()
    );
}
