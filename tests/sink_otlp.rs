//! The OTLP output (issue 21): one `vcollect once` from the simulator into InfluxDB, an
//! OTLP/HTTP receiver and an OTLP/gRPC receiver at once (three `[[output]]`s); every sample
//! InfluxDB got is in each receiver, as a gauge point named as Telegraf's opentelemetry output names it, with the
//! tags as point attributes and the vCenter and node as resource attributes.
//!
//! The receiver is a small HTTP server in this test that decodes each request with the
//! official OpenTelemetry protobuf types (`opentelemetry-proto`, the crate the output
//! encodes with, generated from opentelemetry-proto's `.proto` files) after gunzipping it.
//! No real OTLP store is used: none is packaged in Debian (no OpenTelemetry Collector, no
//! Mimir or Tempo; Debian's Prometheus is too old for its OTLP receiver), and the tests use
//! only Debian's packages. It is a mock only of the store, and small: it checks the headers,
//! records what it decoded and answers as OTLP/HTTP does (200 and an empty protobuf
//! `ExportMetricsServiceResponse`). The gRPC receiver is opentelemetry-proto's generated
//! `MetricsServiceServer` (tonic) on 127.0.0.1, accepting gzip, with a service that checks
//! the request came gzip-compressed (`grpc-encoding: gzip`) and records it. A second test
//! scripts the gRPC statuses it answers, to check which the output retries. A third checks
//! `names = "otel"`: the OpenTelemetry vcenter receiver's names where they are exact.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use common::config::{self, Vc};
use common::influx::Influx;
use common::vcsim::{SimOptions, Simulator};
use common::{check, once_ok};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric;

/// What the receiver decoded, one request each; or why a request was bad.
type Received = Arc<Mutex<Vec<Result<ExportMetricsServiceRequest, String>>>>;

/// An OTLP/HTTP metrics receiver on a loopback port: `POST /v1/metrics`, protobuf, gzip.
async fn start_receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let state = got.clone();
    let app = axum::Router::new().route(
        "/v1/metrics",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                let decoded = decode(&headers, &body);
                let ok = decoded.is_ok();
                state.lock().unwrap().push(decoded);
                if ok {
                    let resp = ExportMetricsServiceResponse::default();
                    (StatusCode::OK, prost::Message::encode_to_vec(&resp))
                } else {
                    (StatusCode::BAD_REQUEST, b"bad request".to_vec())
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1/metrics"), got)
}

/// The gRPC service: records each request, refusing one that did not come gzipped.
struct GrpcReceiver(Received);

#[tonic::async_trait]
impl MetricsService for GrpcReceiver {
    async fn export(
        &self,
        req: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let encoding = req
            .metadata()
            .get("grpc-encoding")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if encoding != "gzip" {
            let e = format!("grpc-encoding {encoding:?}");
            self.0.lock().unwrap().push(Err(e.clone()));
            return Err(tonic::Status::invalid_argument(e));
        }
        self.0.lock().unwrap().push(Ok(req.into_inner()));
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// An OTLP/gRPC metrics receiver on a loopback port: its address as the output's url.
async fn start_grpc_receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let service = MetricsServiceServer::new(GrpcReceiver(got.clone()))
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    (format!("http://{addr}"), got)
}

/// Everything a receiver decoded, or the first request it could not take.
fn requests(received: &Received, what: &str) -> Vec<ExportMetricsServiceRequest> {
    let reqs: Vec<_> = received
        .lock()
        .unwrap()
        .drain(..)
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("a request the {what} receiver could not take: {e}"));
    assert!(!reqs.is_empty(), "nothing reached the {what} receiver");
    reqs
}

fn decode(headers: &HeaderMap, body: &[u8]) -> Result<ExportMetricsServiceRequest, String> {
    let header = |h: &str| headers.get(h).and_then(|v| v.to_str().ok()).unwrap_or("");
    if header("content-type") != "application/x-protobuf" {
        return Err(format!("content-type {:?}", header("content-type")));
    }
    if header("content-encoding") != "gzip" {
        return Err(format!("content-encoding {:?}", header("content-encoding")));
    }
    let raw = vcollect::sink::influx::gunzip(body).map_err(|e| format!("gzip: {e}"))?;
    prost::Message::decode(raw.as_slice()).map_err(|e| format!("protobuf: {e}"))
}

fn attr<'a>(kvs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    kvs.iter()
        .find(|k| k.key == key)
        .and_then(|k| match k.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
}

/// The timestamps (seconds) of `name`'s points (a gauge's or a sum's) by `moid`, checking
/// every point's attributes and its resource's on the way.
fn points_by_moid(
    reqs: &[ExportMetricsServiceRequest],
    name: &str,
    keys: &[&str],
) -> BTreeMap<String, BTreeSet<i64>> {
    let mut out: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for rm in reqs.iter().flat_map(|r| &r.resource_metrics) {
        let ra = &rm.resource.as_ref().expect("a resource").attributes;
        for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            if m.name != name {
                continue;
            }
            assert_eq!(attr(ra, "service.name"), Some("vcollect"), "{ra:?}");
            assert_eq!(attr(ra, "host.name"), Some("test-node"), "{ra:?}");
            assert_eq!(attr(ra, "vcenter"), Some("vc1"), "{ra:?}");
            let points = match &m.data {
                Some(metric::Data::Gauge(g)) => &g.data_points,
                Some(metric::Data::Sum(s)) => &s.data_points,
                other => panic!("{name} is neither a gauge nor a sum: {other:?}"),
            };
            for p in points {
                for key in keys {
                    assert!(attr(&p.attributes, key).is_some(), "no {key} on {p:?}");
                }
                assert_eq!(attr(&p.attributes, "vcenter"), None, "a resource attribute");
                assert!(p.value.is_some(), "{p:?}");
                let moid = attr(&p.attributes, "moid").unwrap_or_default();
                let ts = i64::try_from(p.time_unix_nano / 1_000_000_000).unwrap_or(i64::MAX);
                assert_eq!(p.time_unix_nano % 1_000_000_000, 0, "{p:?}");
                out.entry(moid.to_string()).or_default().insert(ts);
            }
        }
    }
    out
}

/// One run into InfluxDB and both OTLP receivers at once: per VM and per timestamp, the same
/// `vsphere_vm_cpu usage_average` samples in all three.
#[tokio::test(flavor = "multi_thread")]
async fn the_otlp_receivers_get_every_sample_influxdb_gets_with_its_attributes() {
    let sim = Simulator::start(SimOptions::default());
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let (url, received) = start_receiver().await;
    let (grpc_url, grpc_received) = start_grpc_receiver().await;
    let collect = "[collect]\nlookback = \"3m\"\nvm_counters = [\"cpu.usage.average\"]\n\
                   host_counters = [\"cpu.usage.average\"]\ncluster_counters = []\ndatastore_counters = []";
    let dir = tempfile::tempdir().unwrap();
    let cfg = config::write(dir.path(), &[Vc::new("vc1", &sim)], &influx.url(), collect);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[output]", "[[output]]")
        + &format!("\n[[output]]\ntype = \"otlp\"\nurl = \"{url}\"\n")
        + &format!(
            "\n[[output]]\ntype = \"otlp\"\nname = \"otlp_grpc\"\nprotocol = \"grpc\"\nurl = \"{grpc_url}\"\n"
        );
    std::fs::write(&cfg, text).unwrap();
    once_ok(&cfg, &[]).await;

    let want = check::series(
        &influx,
        "vsphere",
        "vsphere_vm_cpu",
        "usage_average",
        "moid",
        0,
        i64::MAX,
    )
    .await;
    assert_eq!(want.len() as u32, sim.expected_vms(), "{want:?}");
    assert!(want.values().all(|t| t.len() >= 5), "{want:?}");
    for (what, received) in [("HTTP", &received), ("gRPC", &grpc_received)] {
        let reqs = requests(received, what);
        let got = points_by_moid(
            &reqs,
            "vsphere_vm_cpu_usage_average",
            &["moid", "vmname", "esxhostname", "clustername", "dcname"],
        );
        assert_eq!(got, want, "OTLP/{what} points against InfluxDB's samples");
        let hosts = points_by_moid(
            &reqs,
            "vsphere_host_cpu_usage_average",
            &["moid", "esxhostname"],
        );
        assert!(!hosts.is_empty(), "no host points over {what}");
    }
}

/// Whether `name` arrived as a gauge (or a sum), its unit, and the values its points'
/// attribute `key` took.
fn shape(
    reqs: &[ExportMetricsServiceRequest],
    name: &str,
    key: &str,
) -> (bool, String, BTreeSet<String>) {
    let mut found = None;
    let mut values = BTreeSet::new();
    for m in reqs
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == name)
    {
        let (gauge, points) = match &m.data {
            Some(metric::Data::Gauge(g)) => (true, &g.data_points),
            Some(metric::Data::Sum(s)) => {
                assert!(!s.is_monotonic && s.aggregation_temporality == 2, "{m:?}");
                (false, &s.data_points)
            }
            other => panic!("{name}: {other:?}"),
        };
        found = Some((gauge, m.unit.clone()));
        values.extend(
            points
                .iter()
                .filter_map(|p| attr(&p.attributes, key).map(String::from)),
        );
    }
    let (gauge, unit) = found.unwrap_or_else(|| panic!("no {name} arrived"));
    (gauge, unit, values)
}

/// A mapped field: Telegraf's measurement and field, the OTel name, the attributes every
/// point has, whether it is a gauge (else a sum), its unit.
type Mapped<'a> = (&'a str, &'a str, &'a str, &'a [&'a str], bool, &'a str);

/// `names = "otel"`: the counters with an exact equivalent in the OpenTelemetry vcenter
/// receiver arrive under its names, units, types and attributes, every sample InfluxDB got;
/// the others keep Telegraf's names and tags.
#[tokio::test(flavor = "multi_thread")]
async fn otel_names_send_the_vcenter_receivers_metrics_and_keep_telegrafs_for_the_rest() {
    let sim = Simulator::start(SimOptions::default());
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let (url, received) = start_receiver().await;
    // Counters the simulator has data for: mapped ones and cpu.usage, which is not.
    let collect = "[collect]\nlookback = \"2m\"\n\
                   vm_counters = [\"cpu.usage.average\", \"virtualDisk.read.average\", \"net.usage.average\"]\n\
                   host_counters = [\"cpu.usage.average\", \"disk.read.average\", \"net.bytesTx.average\"]\n\
                   cluster_counters = []\ndatastore_counters = []";
    let dir = tempfile::tempdir().unwrap();
    let cfg = config::write(dir.path(), &[Vc::new("vc1", &sim)], &influx.url(), collect);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[output]", "[[output]]")
        + &format!("\n[[output]]\ntype = \"otlp\"\nurl = \"{url}\"\nnames = \"otel\"\n");
    std::fs::write(&cfg, text).unwrap();
    once_ok(&cfg, &[]).await;
    let reqs = requests(&received, "HTTP");

    // (Telegraf measurement, field, OTel name, attributes every point has, gauge?, unit)
    let host = [
        "moid",
        "vcenter.host.name",
        "vcenter.datacenter.name",
        "object",
        "direction",
    ];
    let vm = ["moid", "vcenter.vm.name", "vcenter.host.name", "object"];
    let mapped: [Mapped; 4] = [
        (
            "vsphere_host_disk",
            "read_average",
            "vcenter.host.disk.throughput",
            &host,
            false,
            "{KiBy/s}",
        ),
        (
            "vsphere_host_net",
            "bytesTx_average",
            "vcenter.host.network.throughput",
            &host,
            false,
            "{KiBy/s}",
        ),
        (
            "vsphere_vm_virtualDisk",
            "read_average",
            "vcenter.vm.disk.throughput",
            &[&vm[..], &["direction"]].concat(),
            true,
            "{KiBy/s}",
        ),
        (
            "vsphere_vm_net",
            "usage_average",
            "vcenter.vm.network.usage",
            &vm,
            false,
            "{KiBy/s}",
        ),
    ];
    for (measurement, field, name, keys, gauge, unit) in mapped {
        let want = check::series(&influx, "vsphere", measurement, field, "moid", 0, i64::MAX).await;
        assert!(!want.is_empty(), "InfluxDB has no {measurement} {field}");
        assert_eq!(
            points_by_moid(&reqs, name, keys),
            want,
            "{name} against InfluxDB's {measurement} {field}"
        );
        let (is_gauge, got_unit, _) = shape(&reqs, name, "object");
        assert_eq!((is_gauge, got_unit.as_str()), (gauge, unit), "{name}");
        let telegraf = format!("{measurement}_{field}");
        assert!(
            points_by_moid(&reqs, &telegraf, &[]).is_empty(),
            "{telegraf} sent under its Telegraf name too"
        );
    }
    let (_, _, directions) = shape(&reqs, "vcenter.host.network.throughput", "direction");
    assert_eq!(directions, BTreeSet::from(["transmitted".to_string()]));
    let (_, _, directions) = shape(&reqs, "vcenter.vm.disk.throughput", "direction");
    assert_eq!(directions, BTreeSet::from(["read".to_string()]));

    // Not mapped: Telegraf's name, unit and tags.
    for (measurement, keys) in [
        (
            "vsphere_vm_cpu",
            &["moid", "vmname", "esxhostname", "clustername", "dcname"][..],
        ),
        ("vsphere_host_cpu", &["moid", "esxhostname"][..]),
    ] {
        let want = check::series(
            &influx,
            "vsphere",
            measurement,
            "usage_average",
            "moid",
            0,
            i64::MAX,
        )
        .await;
        let name = format!("{measurement}_usage_average");
        assert_eq!(points_by_moid(&reqs, &name, keys), want, "{name}");
        let (gauge, unit, _) = shape(&reqs, &name, "moid");
        assert_eq!((gauge, unit.as_str()), (true, ""), "{name}");
    }
}

/// A gRPC receiver that answers each call with the next scripted status (then OK), counting
/// the calls: the statuses a real store sends under load or to a bad request, which a real
/// receiver cannot be made to send on cue.
struct Scripted {
    answers: Mutex<std::collections::VecDeque<tonic::Code>>,
    calls: std::sync::atomic::AtomicUsize,
}

#[tonic::async_trait]
impl MetricsService for Scripted {
    async fn export(
        &self,
        _req: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match self.answers.lock().unwrap().pop_front() {
            Some(code) => Err(tonic::Status::new(code, "scripted")),
            None => Ok(tonic::Response::new(ExportMetricsServiceResponse::default())),
        }
    }
}

/// A writer to a scripted receiver; the script's calls and the write's result.
async fn write_to_scripted(
    answers: &[tonic::Code],
) -> (usize, Result<(), vcollect::sink::SinkError>) {
    let script = Arc::new(Scripted {
        answers: Mutex::new(answers.iter().copied().collect()),
        calls: Default::default(),
    });
    let service = MetricsServiceServer::from_arc(script.clone())
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    let writer = vcollect::sink::influx::Writer::new(vcollect::sink::HttpOptions {
        url,
        api: vcollect::sink::Api::Otlp {
            grpc: true,
            username: None,
            password: None,
            bearer_token: None,
            host_name: None,
            names: vcollect::sink::otlp::Names::Telegraf,
        },
        timeout: std::time::Duration::from_secs(5),
        gzip: true,
        max_retries: 3,
        retry_backoff: std::time::Duration::from_millis(20),
    })
    .unwrap();
    let payload = writer.payload(b"m,t=a f=1 1700000000\n".to_vec(), 1);
    let res = writer.write(&payload).await;
    server.abort();
    (script.calls.load(std::sync::atomic::Ordering::SeqCst), res)
}

/// The OTLP specification's retryable gRPC statuses are retried; the others refuse the
/// batch at once.
#[tokio::test]
async fn grpc_statuses_are_retried_as_the_otlp_specification_says() {
    use tonic::Code;
    let (calls, res) = write_to_scripted(&[Code::Unavailable, Code::DeadlineExceeded]).await;
    assert!(res.is_ok(), "{res:?}");
    assert_eq!(calls, 3, "two retryable failures, then the write");
    let (calls, res) = write_to_scripted(&[Code::InvalidArgument]).await;
    let e = res.expect_err("refused");
    assert!(e.is_permanent() && e.is_bad_batch(), "{e}");
    assert!(e.to_string().contains("InvalidArgument"), "{e}");
    assert_eq!(calls, 1, "not retried");
    let (calls, res) = write_to_scripted(&[Code::ResourceExhausted]).await;
    assert!(res.is_err_and(|e| e.is_permanent()));
    assert_eq!(
        calls, 1,
        "RESOURCE_EXHAUSTED without RetryInfo is not retried"
    );
    let (calls, res) = write_to_scripted(&[Code::Unavailable; 4]).await;
    assert!(
        res.is_err_and(|e| !e.is_permanent()),
        "spooled, not dropped"
    );
    assert_eq!(calls, 4, "1 + max_retries attempts");
}
