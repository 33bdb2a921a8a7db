//! OTLP metrics over HTTP/protobuf: a batch of line protocol (what the collector encodes and
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

use std::collections::HashMap;

use influxdb_line_protocol::FieldValue;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

pub use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;

use super::error::SinkError;
use super::Precision;

/// The tag that names the vCenter: a resource attribute rather than a point attribute.
const VCENTER_TAG: &str = "vcenter";

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
/// collecting node's name (`host.name`). A line that does not parse is an error naming it:
/// the batch came from this process or its spool, so it is a bug or a damaged spool file.
pub fn encode(lp: &[u8], host: Option<&str>) -> Result<Encoded, SinkError> {
    encode_at(lp, host, Precision::Seconds)
}

/// [`encode`] for line protocol with timestamps in `precision`.
pub fn encode_at(
    lp: &[u8],
    host: Option<&str>,
    precision: Precision,
) -> Result<Encoded, SinkError> {
    let text = std::str::from_utf8(lp)
        .map_err(|e| SinkError::Encode(format!("line protocol is not UTF-8: {e}")))?;
    let (req, strings_skipped) = to_request_at(text, host, precision)?;
    let points = req
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| match &m.data {
            Some(metric::Data::Gauge(g)) => g.data_points.len(),
            _ => 0,
        })
        .sum();
    Ok(Encoded {
        body: prost::Message::encode_to_vec(&req),
        points,
        strings_skipped,
    })
}

/// One vCenter's metrics while a batch is converted.
#[derive(Default)]
struct Res {
    metrics: Vec<Met>,
    index: HashMap<String, usize>,
}

/// One metric's points, by attribute set (sorted tags), each set's points in line order.
#[derive(Default)]
struct Met {
    name: String,
    series: Vec<Vec<NumberDataPoint>>,
    index: HashMap<Vec<(String, String)>, usize>,
}

/// The request for `text` and the number of string fields left out.
pub fn to_request(
    text: &str,
    host: Option<&str>,
) -> Result<(ExportMetricsServiceRequest, usize), SinkError> {
    to_request_at(text, host, Precision::Seconds)
}

/// [`to_request`] for timestamps in `precision`.
pub fn to_request_at(
    text: &str,
    host: Option<&str>,
    precision: Precision,
) -> Result<(ExportMetricsServiceRequest, usize), SinkError> {
    let per_unit = precision.millis() as u64 * 1_000_000;
    let mut resources: Vec<(Option<String>, Res)> = Vec::new();
    let mut strings = 0;
    for (n, line) in influxdb_line_protocol::parse_lines(text).enumerate() {
        let line = line.map_err(|e| SinkError::Encode(format!("line {}: {e}", n + 1)))?;
        let ts = line
            .timestamp
            .ok_or_else(|| SinkError::Encode(format!("line {}: no timestamp", n + 1)))?;
        let nanos = u64::try_from(ts)
            .ok()
            .and_then(|s| s.checked_mul(per_unit))
            .ok_or_else(|| {
                SinkError::Encode(format!("line {}: timestamp {ts} out of range", n + 1))
            })?;
        let mut vcenter = None;
        let mut tags: Vec<(String, String)> = Vec::new();
        for (k, v) in line.series.tag_set.iter().flatten() {
            if k.as_str() == VCENTER_TAG {
                vcenter = Some(v.as_str().to_string());
            } else {
                tags.push((k.as_str().to_string(), v.as_str().to_string()));
            }
        }
        tags.sort();
        let attributes: Vec<KeyValue> = tags.iter().map(|(k, v)| kv(k, v)).collect();
        let r = match resources.iter().position(|(v, _)| *v == vcenter) {
            Some(i) => &mut resources[i].1,
            None => {
                resources.push((vcenter, Res::default()));
                &mut resources.last_mut().expect("just pushed").1
            }
        };
        let measurement = line.series.measurement.as_str();
        for (field, value) in &line.field_set {
            let Some(value) = number(value) else {
                strings += 1;
                continue;
            };
            let point = NumberDataPoint {
                attributes: attributes.clone(),
                time_unix_nano: nanos,
                value: Some(value),
                ..Default::default()
            };
            r.metric(format!("{measurement}_{}", field.as_str()))
                .push(&tags, point);
        }
    }
    let resource_metrics = resources
        .into_iter()
        .map(|(vcenter, r)| resource_metrics(vcenter, host, r))
        .collect();
    Ok((ExportMetricsServiceRequest { resource_metrics }, strings))
}

impl Res {
    fn metric(&mut self, name: String) -> &mut Met {
        let i = match self.index.get(&name) {
            Some(&i) => i,
            None => {
                self.index.insert(name.clone(), self.metrics.len());
                self.metrics.push(Met {
                    name,
                    ..Met::default()
                });
                self.metrics.len() - 1
            }
        };
        &mut self.metrics[i]
    }
}

impl Met {
    fn push(&mut self, tags: &[(String, String)], point: NumberDataPoint) {
        match self.index.get(tags) {
            Some(&i) => self.series[i].push(point),
            None => {
                self.index.insert(tags.to_vec(), self.series.len());
                self.series.push(vec![point]);
            }
        }
    }
}

/// A field's value as OTLP carries it; `None` for a string.
fn number(v: &FieldValue) -> Option<number_data_point::Value> {
    use number_data_point::Value;
    Some(match v {
        FieldValue::F64(f) => Value::AsDouble(*f),
        FieldValue::I64(i) => Value::AsInt(*i),
        FieldValue::U64(u) => i64::try_from(*u).map_or(Value::AsDouble(*u as f64), Value::AsInt),
        FieldValue::Boolean(b) => Value::AsInt(i64::from(*b)),
        FieldValue::String(_) => return None,
    })
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

fn resource_metrics(vcenter: Option<String>, host: Option<&str>, r: Res) -> ResourceMetrics {
    let mut attributes = vec![kv("service.name", "vcollect")];
    if let Some(h) = host {
        attributes.push(kv("host.name", h));
    }
    if let Some(v) = &vcenter {
        attributes.push(kv(VCENTER_TAG, v));
    }
    let metrics = r
        .metrics
        .into_iter()
        .map(|m| Metric {
            name: m.name,
            data: Some(metric::Data::Gauge(Gauge {
                data_points: m.series.into_iter().flatten().collect(),
            })),
            ..Default::default()
        })
        .collect();
    ResourceMetrics {
        resource: Some(Resource {
            attributes,
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: "vcollect".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                ..Default::default()
            }),
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// What a successful answer says about points the receiver did not take (OTLP's partial
/// success): `None` when it took them all, or the body is not a response it can read.
pub fn partial_success(body: &[u8]) -> Option<(i64, String)> {
    let resp: ExportMetricsServiceResponse = prost::Message::decode(body).ok()?;
    let p = resp.partial_success?;
    (p.rejected_data_points != 0 || !p.error_message.is_empty())
        .then_some((p.rejected_data_points, p.error_message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use number_data_point::Value;

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
        let (req, _) = to_request_at(lp, None, Precision::Millis).unwrap();
        let m = &req.resource_metrics[0].scope_metrics[0].metrics[0];
        let Some(metric::Data::Gauge(g)) = &m.data else {
            panic!("not a gauge: {m:?}");
        };
        assert_eq!(g.data_points[0].time_unix_nano, 1_700_000_000_999_000_000);
    }
}
