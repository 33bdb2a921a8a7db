//! The general conversion: influxdb-line-protocol's parser and the official prost types
//! (`opentelemetry-proto`). The output sends [`super::encode`]'s hand-assembled bytes; this
//! is the reference the tests hold them to (the same message, decoded).

use std::collections::HashMap;

use influxdb_line_protocol::FieldValue;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::{SERVICE_NAME, VCENTER_TAG};
use crate::sink::error::SinkError;

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
    let mut resources: Vec<(Option<String>, Res)> = Vec::new();
    let mut strings = 0;
    for (n, line) in influxdb_line_protocol::parse_lines(text).enumerate() {
        let line = line.map_err(|e| SinkError::Encode(format!("line {}: {e}", n + 1)))?;
        let ts = line
            .timestamp
            .ok_or_else(|| SinkError::Encode(format!("line {}: no timestamp", n + 1)))?;
        let nanos = u64::try_from(ts)
            .ok()
            .and_then(|s| s.checked_mul(1_000_000_000))
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
    let mut attributes = vec![kv("service.name", SERVICE_NAME)];
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
                name: SERVICE_NAME.into(),
                version: env!("CARGO_PKG_VERSION").into(),
                ..Default::default()
            }),
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }
}
