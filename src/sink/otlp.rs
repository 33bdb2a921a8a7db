//! OTLP metrics over HTTP/protobuf or gRPC ([`grpc`]): a batch of line protocol (what the collector encodes and
//! the spool keeps) turned into an `ExportMetricsServiceRequest` when it is sent, with the
//! official OpenTelemetry protobuf types (`opentelemetry-proto`).
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
use super::grouped::{self, FastMap, Grouped, Num};
use super::proto;

pub mod general;
pub mod grpc;
use super::Precision;

/// The tag that names the vCenter: a resource attribute rather than a point attribute.
const VCENTER_TAG: &str = "vcenter";

/// `service.name` and the instrumentation scope's name.
const SERVICE_NAME: &str = "vcollect";

/// A batch ready to send.
#[derive(Debug)]
pub struct Encoded {
    /// The protobuf `ExportMetricsServiceRequest` (not compressed).
    pub body: Vec<u8>,
    pub points: usize,
    /// String fields, which are not sent.
    pub strings_skipped: usize,
}

/// Converts line protocol with second timestamps (what vcollect writes). `host` is the
/// collecting node's name (`host.name`). A line that does not read is an error naming it:
/// the batch came from this process or its spool, so it is a bug or a damaged spool file.
///
/// The protobuf is assembled from pieces: a series' attributes are encoded once per batch
/// and copied into each of its points ([`general::to_request`] is the same conversion with
/// the general parser and prost's types, which the tests compare it with).
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
    let g = Grouped::read(lp)?;
    Ok(Encoded {
        body: request(&g, host, precision)?,
        points: g.points.len(),
        strings_skipped: g.strings,
    })
}

// The fields of the messages written here (opentelemetry-proto's metrics, common and
// resource definitions).
const REQ_RESOURCE_METRICS: u8 = 1;
const RM_RESOURCE: u8 = 1;
const RM_SCOPE_METRICS: u8 = 2;
const RESOURCE_ATTRIBUTES: u8 = 1;
const SM_SCOPE: u8 = 1;
const SM_METRICS: u8 = 2;
const SCOPE_NAME: u8 = 1;
const SCOPE_VERSION: u8 = 2;
const METRIC_NAME: u8 = 1;
const METRIC_GAUGE: u8 = 5;
const GAUGE_DATA_POINTS: u8 = 1;
const POINT_ATTRIBUTES: u8 = 7;
const POINT_TIME: u8 = 3;
const POINT_AS_DOUBLE: u8 = 4;
const POINT_AS_INT: u8 = 6;
const KV_KEY: u8 = 1;
const KV_VALUE: u8 = 2;
const ANY_STRING: u8 = 1;

/// A point's size without its attributes: time and value, 9 bytes each.
const POINT_FIXED: usize = 18;

/// One `KeyValue` with a string value, as a repeated field `field` of its message.
fn kv_field(field: u8, key: &str, value: &str, out: &mut Vec<u8>) {
    let any = proto::len_field_size(value.len());
    let len = proto::len_field_size(key.len()) + proto::len_field_size(any);
    proto::len_header(field, len, out);
    proto::bytes_field(KV_KEY, key.as_bytes(), out);
    proto::len_header(KV_VALUE, any, out);
    proto::bytes_field(ANY_STRING, value.as_bytes(), out);
}

/// The batch's structure: resources (vCenters), their metrics, each metric's streams
/// (attribute sets), all in the order they first appear.
struct Layout<'g> {
    /// Per resource: its vCenter and metrics.
    resources: Vec<(Option<&'g str>, Vec<u32>)>,
    /// Per metric: its name and streams.
    metrics: Vec<(String, Vec<u32>)>,
    /// Per stream: its attribute set.
    streams: Vec<u32>,
    /// Encoded attribute sets (repeated field `attributes` of a point).
    attributes: Vec<Vec<u8>>,
    /// Per slot: its stream.
    slot_stream: Vec<u32>,
}

fn layout<'g>(g: &'g Grouped<'_>) -> Layout<'g> {
    let mut l = Layout {
        resources: Vec::new(),
        metrics: Vec::new(),
        streams: Vec::new(),
        attributes: Vec::new(),
        slot_stream: Vec::with_capacity(g.slots.len()),
    };
    let mut attr_ids: FastMap<Vec<u8>, u32> = FastMap::default();
    // Per series: its resource and attribute set.
    let mut series: Vec<(usize, u32)> = Vec::with_capacity(g.series.len());
    for s in &g.series {
        let mut vcenter = None;
        let mut tags: Vec<(&str, &str)> = Vec::with_capacity(s.tags.len());
        for (k, v) in &s.tags {
            if k == VCENTER_TAG {
                vcenter = Some(v.as_ref());
            } else {
                tags.push((k, v));
            }
        }
        tags.sort_unstable();
        let mut attrs = Vec::new();
        for (k, v) in tags {
            kv_field(POINT_ATTRIBUTES, k, v, &mut attrs);
        }
        let next = attr_ids.len() as u32;
        let attr = *attr_ids.entry(attrs).or_insert(next);
        let r = match l.resources.iter().position(|(v, _)| *v == vcenter) {
            Some(r) => r,
            None => {
                l.resources.push((vcenter, Vec::new()));
                l.resources.len() - 1
            }
        };
        series.push((r, attr));
    }
    l.attributes = vec![Vec::new(); attr_ids.len()];
    for (a, id) in attr_ids {
        l.attributes[id as usize] = a;
    }
    // Metrics by resource, measurement and field, then (on a miss: once per batch) by name:
    // measurements and fields may join to the same name (`a_b` + `c`, `a` + `b_c`).
    let mut metric_ids: FastMap<(usize, &str, &str), u32> = FastMap::default();
    let mut metric_names: FastMap<(usize, String), u32> = FastMap::default();
    let mut stream_ids: FastMap<(u32, u32), u32> = FastMap::default();
    for slot in &g.slots {
        let (r, attr) = series[slot.series as usize];
        let measurement = g.series[slot.series as usize].measurement.as_ref();
        let key = (r, measurement, slot.field.as_ref());
        let metric = match metric_ids.get(&key) {
            Some(&m) => m,
            None => {
                let name = format!("{measurement}_{}", slot.field);
                let m = *metric_names
                    .entry((r, name))
                    .or_insert_with_key(|(_, name)| {
                        l.metrics.push((name.clone(), Vec::new()));
                        let m = (l.metrics.len() - 1) as u32;
                        l.resources[r].1.push(m);
                        m
                    });
                metric_ids.insert(key, m);
                m
            }
        };
        let stream = *stream_ids.entry((metric, attr)).or_insert_with(|| {
            l.streams.push(attr);
            let s = (l.streams.len() - 1) as u32;
            l.metrics[metric as usize].1.push(s);
            s
        });
        l.slot_stream.push(stream);
    }
    l
}

/// The encoded `ExportMetricsServiceRequest` of `g`.
fn request(g: &Grouped, host: Option<&str>, precision: Precision) -> Result<Vec<u8>, SinkError> {
    let l = layout(g);
    let keys: Vec<u32> = g
        .points
        .iter()
        .map(|p| l.slot_stream[p.slot as usize])
        .collect();
    let (order, starts) = grouped::runs(&keys, l.streams.len());
    let point_size = |stream: usize| l.attributes[l.streams[stream] as usize].len() + POINT_FIXED;
    let stream_size =
        |s: usize| (starts[s + 1] - starts[s]) as usize * proto::len_field_size(point_size(s));
    let gauge_size = |m: usize| {
        l.metrics[m]
            .1
            .iter()
            .map(|&s| stream_size(s as usize))
            .sum::<usize>()
    };
    let metric_size = |m: usize| {
        proto::len_field_size(l.metrics[m].0.len()) + proto::len_field_size(gauge_size(m))
    };
    let version = env!("CARGO_PKG_VERSION");
    let scope_size =
        proto::len_field_size(SERVICE_NAME.len()) + proto::len_field_size(version.len());
    let mut out = Vec::with_capacity(g.points.len() * 64);
    for (vcenter, metrics) in &l.resources {
        let mut res_attrs = Vec::new();
        kv_field(
            RESOURCE_ATTRIBUTES,
            "service.name",
            SERVICE_NAME,
            &mut res_attrs,
        );
        if let Some(h) = host {
            kv_field(RESOURCE_ATTRIBUTES, "host.name", h, &mut res_attrs);
        }
        if let Some(v) = vcenter {
            kv_field(RESOURCE_ATTRIBUTES, VCENTER_TAG, v, &mut res_attrs);
        }
        let sm_size = proto::len_field_size(scope_size)
            + metrics
                .iter()
                .map(|&m| proto::len_field_size(metric_size(m as usize)))
                .sum::<usize>();
        let rm_size = proto::len_field_size(res_attrs.len()) + proto::len_field_size(sm_size);
        proto::len_header(REQ_RESOURCE_METRICS, rm_size, &mut out);
        proto::bytes_field(RM_RESOURCE, &res_attrs, &mut out);
        proto::len_header(RM_SCOPE_METRICS, sm_size, &mut out);
        proto::len_header(SM_SCOPE, scope_size, &mut out);
        proto::bytes_field(SCOPE_NAME, SERVICE_NAME.as_bytes(), &mut out);
        proto::bytes_field(SCOPE_VERSION, version.as_bytes(), &mut out);
        for &m in metrics {
            let (name, streams) = &l.metrics[m as usize];
            proto::len_header(SM_METRICS, metric_size(m as usize), &mut out);
            proto::bytes_field(METRIC_NAME, name.as_bytes(), &mut out);
            proto::len_header(METRIC_GAUGE, gauge_size(m as usize), &mut out);
            for &s in streams {
                let s = s as usize;
                let attrs = &l.attributes[l.streams[s] as usize];
                for &i in &order[starts[s] as usize..starts[s + 1] as usize] {
                    let p = &g.points[i as usize];
                    proto::len_header(GAUGE_DATA_POINTS, attrs.len() + POINT_FIXED, &mut out);
                    out.extend_from_slice(attrs);
                    proto::fixed64_field(POINT_TIME, nanos(p.timestamp, precision)?, &mut out);
                    let (field, bits) = match p.value {
                        Num::F64(f) => (POINT_AS_DOUBLE, f.to_bits()),
                        Num::I64(i) => (POINT_AS_INT, i as u64),
                        Num::U64(u) => match i64::try_from(u) {
                            Ok(i) => (POINT_AS_INT, i as u64),
                            Err(_) => (POINT_AS_DOUBLE, (u as f64).to_bits()),
                        },
                        Num::Bool(b) => (POINT_AS_INT, u64::from(b)),
                    };
                    proto::fixed64_field(field, bits, &mut out);
                }
            }
        }
    }
    Ok(out)
}

/// A line's timestamp in `precision` as OTLP's nanoseconds; an error before 1970 or past
/// 2554.
fn nanos(ts: i64, precision: Precision) -> Result<u64, SinkError> {
    let per_unit = precision.millis() as u64 * 1_000_000;
    u64::try_from(ts)
        .ok()
        .and_then(|s| s.checked_mul(per_unit))
        .ok_or_else(|| SinkError::Encode(format!("timestamp {ts} out of range")))
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
