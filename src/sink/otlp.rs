//! OTLP metrics over HTTP/protobuf or gRPC ([`grpc`]): a batch of line protocol (what the
//! collector encodes and the spool keeps) turned into an `ExportMetricsServiceRequest` when
//! it is sent ([`Encoder`], which the output keeps between batches), decoded in the tests
//! with the official OpenTelemetry protobuf types (`opentelemetry-proto`).
//!
//! Names follow Telegraf's `outputs.opentelemetry`, so a Telegraf user's OTLP dashboards keep
//! working. That plugin converts with influxdata/influxdb-observability's `influx2otel`
//! (schema `prometheus-v1`, its default). vSphere metrics are untyped in Telegraf, so
//! `influx2otel` takes its "unknown schema" path (`addPointWithUnknownSchema`): every numeric
//! field becomes a **Gauge** named `<measurement>_<field>` exactly (no sanitising, and unlike
//! the prometheus serializer no special case for a field named `value`), the tags become the
//! data point's attributes, integers stay integers (`as_int`), floats are doubles (`as_double`),
//! string fields are not sent. Two differences, both documented: booleans are sent as the
//! integers 1 or 0 (as the remote-write output sends them; `influx2otel` drops them), and the
//! `vcenter` tag is a **resource** attribute (with `service.name = "vcollect"` and
//! `host.name` = the collecting node's name), not a data-point attribute, because it names
//! the system the metrics describe.
//!
//! Every sample keeps its own timestamp (`time_unix_nano`), so every 20-s sample of a window
//! arrives, not only the newest. Points are grouped: one `ResourceMetrics` per vCenter, one
//! `Metric` per name within it, and within a metric the points of one attribute set together,
//! in the order of the lines.

pub use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;

use super::error::SinkError;

mod encoder;
pub mod general;
pub mod grpc;
pub mod semantic;
use super::Precision;
pub use encoder::Encoder;

/// How metrics are named (`[[output]] names`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Names {
    /// `<measurement>_<field>` with the tags as attributes, as Telegraf's opentelemetry
    /// output sends them.
    #[default]
    Telegraf,
    /// The OpenTelemetry vcenter receiver's `vcenter.*` names, units and attributes where a
    /// field has an exact equivalent ([`semantic`]); Telegraf's for the rest.
    Otel,
}

/// The tag that names the vCenter: a resource attribute rather than a point attribute.
const VCENTER_TAG: &str = "vcenter";

/// `service.name` and the instrumentation scope's name.
const SERVICE_NAME: &str = "vcollect";

/// A batch ready to send.
#[derive(Debug)]
pub struct Encoded {
    /// The protobuf `ExportMetricsServiceRequest`, gzip-compressed when it came from
    /// [`Encoder::encode_gzip`].
    pub body: Vec<u8>,
    pub points: usize,
    /// String fields, which are not sent.
    pub strings_skipped: usize,
}

/// Converts line protocol with second timestamps (what vcollect writes), with Telegraf's
/// names and a fresh [`Encoder`] (the output keeps one between batches). `host` is the
/// collecting node's name (`host.name`). A line that does not read is an error naming it:
/// the batch came from this process or its spool, so it is a bug or a damaged spool file.
pub fn encode(lp: &[u8], host: Option<&str>) -> Result<Encoded, SinkError> {
    encode_at(lp, host, Precision::Seconds)
}

/// [`encode`] for line protocol with timestamps in `precision` (events are written in
/// milliseconds).
pub fn encode_at(
    lp: &[u8],
    host: Option<&str>,
    precision: Precision,
) -> Result<Encoded, SinkError> {
    Encoder::new(Names::Telegraf).encode(lp, host, precision)
}

/// What a successful answer says about points the receiver did not take (OTLP's partial
/// success): `None` when it took them all, or the body is not a response it can read.
pub fn partial_success(body: &[u8]) -> Option<(i64, String)> {
    partial(prost::Message::decode(body).ok()?)
}

/// What a decoded response says about points the receiver did not take.
pub fn partial(resp: ExportMetricsServiceResponse) -> Option<(i64, String)> {
    let p = resp.partial_success?;
    (p.rejected_data_points != 0 || !p.error_message.is_empty())
        .then_some((p.rejected_data_points, p.error_message))
}

#[cfg(test)]
mod tests {
    use super::general::to_request;
    use super::*;
    use number_data_point::Value;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
    use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};

    fn attr<'a>(kvs: &'a [KeyValue], key: &str) -> Option<&'a str> {
        kvs.iter()
            .find(|k| k.key == key)
            .and_then(|k| match k.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => Some(s.as_str()),
                _ => None,
            })
    }

    #[test]
    fn points_keep_their_timestamps_and_are_grouped_by_metric_and_attributes() {
        let lp = "vsphere_vm_cpu,moid=vm-1,vcenter=vc1 usage_average=12.5,ready_summation=7i 1700000000\n\
                  vsphere_vm_cpu,moid=vm-2,vcenter=vc1 usage_average=1,guest=\"ubuntu\",on=true 1700000000\n\
                  vsphere_vm_cpu,moid=vm-1,vcenter=vc1 usage_average=13,ready_summation=8i 1700000020\n\
                  vsphere_vm_cpu,moid=vm-9,vcenter=vc2 value=3 1700000000\n";
        let (req, strings) = to_request(lp, Some("node-a")).unwrap();
        assert_eq!(strings, 1);
        assert_eq!(req.resource_metrics.len(), 2, "one resource per vCenter");
        let r = &req.resource_metrics[0];
        let ra = &r.resource.as_ref().unwrap().attributes;
        assert_eq!(attr(ra, "service.name"), Some("vcollect"));
        assert_eq!(attr(ra, "host.name"), Some("node-a"));
        assert_eq!(attr(ra, "vcenter"), Some("vc1"));
        let metrics = &r.scope_metrics[0].metrics;
        let names: Vec<_> = metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "vsphere_vm_cpu_usage_average",
                "vsphere_vm_cpu_ready_summation",
                "vsphere_vm_cpu_on"
            ]
        );
        let Some(metric::Data::Gauge(g)) = &metrics[0].data else {
            panic!("not a gauge: {:?}", metrics[0]);
        };
        let got: Vec<_> = g
            .data_points
            .iter()
            .map(|p| {
                (
                    attr(&p.attributes, "moid").unwrap(),
                    p.time_unix_nano,
                    p.value,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "vm-1",
                    1_700_000_000_000_000_000,
                    Some(Value::AsDouble(12.5))
                ),
                (
                    "vm-1",
                    1_700_000_020_000_000_000,
                    Some(Value::AsDouble(13.0))
                ),
                (
                    "vm-2",
                    1_700_000_000_000_000_000,
                    Some(Value::AsDouble(1.0))
                ),
            ],
            "one attribute set's points together"
        );
        assert_eq!(attr(&g.data_points[0].attributes, "vcenter"), None);
        let Some(metric::Data::Gauge(on)) = &metrics[2].data else {
            panic!("not a gauge");
        };
        assert_eq!(on.data_points[0].value, Some(Value::AsInt(1)));
        let other = &req.resource_metrics[1].scope_metrics[0].metrics[0];
        assert_eq!(
            other.name, "vsphere_vm_cpu_value",
            "no special case for value"
        );
    }

    #[test]
    fn the_body_decodes_back_and_partial_success_is_read() {
        let e = encode(b"m,t=a f=1i 10\nm,t=a f=2i 20\n", None).unwrap();
        assert_eq!((e.points, e.strings_skipped), (2, 0));
        let req: ExportMetricsServiceRequest = prost::Message::decode(e.body.as_slice()).unwrap();
        let ra = &req.resource_metrics[0]
            .resource
            .as_ref()
            .unwrap()
            .attributes;
        assert_eq!(attr(ra, "host.name"), None);
        let resp = ExportMetricsServiceResponse {
            partial_success: Some(
                opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsPartialSuccess {
                    rejected_data_points: 3,
                    error_message: "too old".into(),
                },
            ),
        };
        let body = prost::Message::encode_to_vec(&resp);
        assert_eq!(partial_success(&body), Some((3, "too old".into())));
        assert_eq!(partial_success(b""), None);
    }

    #[test]
    fn a_line_that_does_not_parse_is_an_error_naming_it() {
        let e = encode(b"m f=1 10\nnot line protocol\n", None).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = encode(b"m f=1\n", None).unwrap_err();
        assert!(e.to_string().contains("no timestamp"), "{e}");
        let e = encode(b"m f=1 -5\n", None).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
    }

    #[test]
    fn otel_names_rename_exact_equivalents_and_keep_the_rest() {
        let lp = "vsphere_host_disk,clustername=C0,dcname=DC0,disk=naa.1,esxhostname=esx1,moid=host-1,vcenter=vc1 \
                  totalReadLatency_average=3i,totalWriteLatency_average=5i,read_average=70i 1700000000\n\
                  vsphere_host_disk,clustername=C0,dcname=DC0,disk=instance-total,esxhostname=esx1,moid=host-1,vcenter=vc1 \
                  maxTotalLatency_latest=9i 1700000000\n\
                  vsphere_host_cpu,cpu=instance-total,esxhostname=esx1,moid=host-1,vcenter=vc1 usage_average=12.5 1700000000\n";
        let e = Encoder::new(Names::Otel)
            .encode(lp.as_bytes(), Some("node-a"), Precision::Seconds)
            .unwrap();
        let req = <ExportMetricsServiceRequest as prost::Message>::decode(&e.body[..]).unwrap();
        let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
        let by_name = |n: &str| {
            metrics
                .iter()
                .find(|m| m.name == n)
                .unwrap_or_else(|| panic!("no {n} in {metrics:?}"))
        };
        let lat = by_name("vcenter.host.disk.latency.avg");
        assert_eq!(lat.unit, "ms");
        let Some(metric::Data::Gauge(g)) = &lat.data else {
            panic!("not a gauge: {lat:?}");
        };
        let points: Vec<_> = g
            .data_points
            .iter()
            .map(|p| (attr(&p.attributes, "direction").unwrap(), p.value))
            .collect();
        assert_eq!(
            points,
            [
                ("read", Some(Value::AsInt(3))),
                ("write", Some(Value::AsInt(5)))
            ]
        );
        let p = &g.data_points[0].attributes;
        assert_eq!(attr(p, "object"), Some("naa.1"));
        assert_eq!(attr(p, "vcenter.host.name"), Some("esx1"));
        assert_eq!(attr(p, "vcenter.cluster.name"), Some("C0"));
        assert_eq!(attr(p, "vcenter.datacenter.name"), Some("DC0"));
        assert_eq!(
            attr(p, "moid"),
            Some("host-1"),
            "other tags keep their names"
        );
        assert_eq!((attr(p, "disk"), attr(p, "esxhostname")), (None, None));
        let tp = by_name("vcenter.host.disk.throughput");
        assert_eq!(tp.unit, "{KiBy/s}");
        let Some(metric::Data::Sum(sum)) = &tp.data else {
            panic!("not a sum: {tp:?}");
        };
        assert!(!sum.is_monotonic);
        assert_eq!(sum.aggregation_temporality, 2, "cumulative");
        assert_eq!(sum.data_points[0].value, Some(Value::AsInt(70)));
        let max = by_name("vcenter.host.disk.latency.max");
        let Some(metric::Data::Gauge(g)) = &max.data else {
            panic!("not a gauge: {max:?}");
        };
        assert_eq!(
            attr(&g.data_points[0].attributes, "object"),
            Some(""),
            "the aggregate"
        );
        let cpu = by_name("vsphere_host_cpu_usage_average");
        assert_eq!(cpu.unit, "");
        let Some(metric::Data::Gauge(g)) = &cpu.data else {
            panic!("not a gauge: {cpu:?}");
        };
        let p = &g.data_points[0].attributes;
        assert_eq!(
            (attr(p, "esxhostname"), attr(p, "cpu")),
            (Some("esx1"), Some("instance-total"))
        );
        assert_eq!(metrics.len(), 4);
        // Telegraf's names unless asked.
        let e = encode(lp.as_bytes(), None).unwrap();
        let req = <ExportMetricsServiceRequest as prost::Message>::decode(&e.body[..]).unwrap();
        let names: Vec<_> = req.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert!(names.iter().all(|n| n.starts_with("vsphere_")), "{names:?}");
    }

    #[test]
    fn millisecond_batches_keep_their_milliseconds() {
        let lp = "vsphere_event,type=A,vcenter=vc1 key=1999i 1700000000999\n";
        let e = encode_at(lp.as_bytes(), None, Precision::Millis).unwrap();
        let req = <ExportMetricsServiceRequest as prost::Message>::decode(&e.body[..]).unwrap();
        let m = &req.resource_metrics[0].scope_metrics[0].metrics[0];
        let Some(metric::Data::Gauge(g)) = &m.data else {
            panic!("not a gauge: {m:?}");
        };
        assert_eq!(g.data_points[0].time_unix_nano, 1_700_000_000_999_000_000);
    }
}
