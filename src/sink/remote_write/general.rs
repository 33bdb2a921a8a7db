//! The general conversion: influxdb-line-protocol's parser and prost's message types. The
//! output sends [`super::encode`]'s hand-assembled bytes; this is the reference the tests
//! hold them to (the same message, decoded), and what a reader checks the names against.

use std::collections::HashMap;

use influxdb_line_protocol::FieldValue;

use super::prompb::{self, WriteRequest};
use super::{label_name, metric_name};
use crate::sink::error::SinkError;

/// The `WriteRequest` of `text`, each series once with its samples in the order of the
/// lines, and the number of string fields left out.
pub fn to_write_request(text: &str) -> Result<(WriteRequest, usize), SinkError> {
    // Series by their line-protocol identity (measurement, tags, field): labels are built
    // once per series, and a sample of a known series costs one lookup in a reused buffer.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut key = String::new();
    let mut out = WriteRequest::default();
    let mut strings = 0;
    for (n, line) in influxdb_line_protocol::parse_lines(text).enumerate() {
        let line = line.map_err(|e| SinkError::Encode(format!("line {}: {e}", n + 1)))?;
        let ts_ms = line
            .timestamp
            .ok_or_else(|| SinkError::Encode(format!("line {}: no timestamp", n + 1)))?
            .saturating_mul(1000);
        let measurement = line.series.measurement.as_str();
        key.clear();
        key.push_str(measurement);
        for (k, v) in line.series.tag_set.iter().flatten() {
            key.push('\0');
            key.push_str(k.as_str());
            key.push('\0');
            key.push_str(v.as_str());
        }
        key.push('\u{1}');
        let series_len = key.len();
        for (field, value) in &line.field_set {
            let v = match value {
                FieldValue::F64(f) => *f,
                FieldValue::I64(i) => *i as f64,
                FieldValue::U64(u) => *u as f64,
                FieldValue::Boolean(b) => f64::from(u8::from(*b)),
                FieldValue::String(_) => {
                    strings += 1;
                    continue;
                }
            };
            let sample = prompb::Sample {
                value: v,
                timestamp: ts_ms,
            };
            key.truncate(series_len);
            key.push_str(field.as_str());
            if let Some(&i) = index.get(key.as_str()) {
                out.timeseries[i].samples.push(sample);
                continue;
            }
            let mut labels: Vec<prompb::Label> = line
                .series
                .tag_set
                .iter()
                .flatten()
                .map(|(k, v)| prompb::Label {
                    name: label_name(k.as_str()).into_owned(),
                    value: v.as_str().to_string(),
                })
                .collect();
            labels.push(prompb::Label {
                name: "__name__".into(),
                value: metric_name(measurement, field.as_str()),
            });
            labels.sort_by(|a, b| a.name.cmp(&b.name));
            index.insert(key.clone(), out.timeseries.len());
            out.timeseries.push(prompb::TimeSeries {
                labels,
                samples: vec![sample],
            });
        }
    }
    Ok((out, strings))
}
