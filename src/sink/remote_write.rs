//! Prometheus remote-write 1.0: a batch of line protocol (what the collector encodes and the
//! spool keeps) turned into a snappy-compressed protobuf `WriteRequest` when it is sent.
//!
//! Series are named as a Telegraf user with the prometheus outputs already has them
//! (Telegraf's prometheus serializer): `<measurement>_<field>` (`vsphere_vm_cpu_usage_average`;
//! a field named `value` is the measurement alone), the tags as labels, names sanitised to
//! Prometheus' character sets by replacing every other character with `_`. Numbers and
//! booleans (1 or 0) are sent; string fields are not (Prometheus has no string samples):
//! they are counted so the caller can say so. Every sample keeps its own timestamp
//! (milliseconds), so every 20-s sample of a window arrives, not only the newest.
//!
//! Converting at send time keeps one durable form (line protocol in the spool) for every
//! output kind; a retry converts again, which costs less than keeping two forms.

use std::collections::HashMap;

use influxdb_line_protocol::FieldValue;

use super::error::SinkError;
use super::Precision;

/// The protocol's messages (prometheus/prompb `types.proto` and `remote.proto`, version 1.0:
/// only the fields a writer of samples sets).
mod prompb {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
}

pub use prompb::WriteRequest;

/// A batch ready to send.
#[derive(Debug)]
pub struct Encoded {
    /// The snappy-compressed (block format) protobuf.
    pub body: Vec<u8>,
    pub series: usize,
    pub samples: usize,
    /// String fields, which remote-write cannot carry.
    pub strings_skipped: usize,
}

/// Converts line protocol with second timestamps (what vcollect writes) into a
/// `WriteRequest`. A line that does not parse is an error naming it: the batch came from
/// this process or its spool, so it is a bug or a damaged spool file, never input to skip.
pub fn encode(lp: &[u8]) -> Result<Encoded, SinkError> {
    encode_at(lp, Precision::Seconds)
}

/// [`encode`] for line protocol with timestamps in `precision`.
pub fn encode_at(lp: &[u8], precision: Precision) -> Result<Encoded, SinkError> {
    let text = std::str::from_utf8(lp)
        .map_err(|e| SinkError::Encode(format!("line protocol is not UTF-8: {e}")))?;
    let (req, strings_skipped) = to_write_request_at(text, precision)?;
    let samples = req.timeseries.iter().map(|t| t.samples.len()).sum();
    let series = req.timeseries.len();
    let raw = prost::Message::encode_to_vec(&req);
    let body = snap::raw::Encoder::new()
        .compress_vec(&raw)
        .map_err(|e| SinkError::Encode(format!("snappy: {e}")))?;
    Ok(Encoded {
        body,
        series,
        samples,
        strings_skipped,
    })
}

/// The `WriteRequest` of `text`, each series once with its samples in the order of the
/// lines, and the number of string fields left out.
pub fn to_write_request(text: &str) -> Result<(WriteRequest, usize), SinkError> {
    to_write_request_at(text, Precision::Seconds)
}

/// [`to_write_request`] for timestamps in `precision`.
pub fn to_write_request_at(
    text: &str,
    precision: Precision,
) -> Result<(WriteRequest, usize), SinkError> {
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
            .saturating_mul(precision.millis());
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
                    name: label_name(k.as_str()),
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

/// Telegraf's prometheus metric name of a field: `<measurement>_<field>`, or the
/// measurement alone for a field named `value`, sanitised.
pub fn metric_name(measurement: &str, field: &str) -> String {
    let raw = if field == "value" {
        measurement.to_string()
    } else {
        format!("{measurement}_{field}")
    };
    sanitise(&raw, true)
}

/// A label name from a tag key, sanitised.
fn label_name(key: &str) -> String {
    sanitise(key, false)
}

/// Prometheus' character sets: metric names `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names
/// `[a-zA-Z_][a-zA-Z0-9_]*`; every other character becomes `_`, and a leading digit gets a
/// `_` in front (as Telegraf's serializer does).
fn sanitise(s: &str, metric: bool) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    for (i, c) in s.chars().enumerate() {
        let ok = c.is_ascii_alphabetic() || c == '_' || (metric && c == ':');
        if i == 0 && c.is_ascii_digit() {
            out.push('_');
            out.push(c);
        } else if ok || c.is_ascii_digit() {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// Whether a 400 from a Prometheus-compatible receiver refused samples for their age or
/// order rather than the request: sending the same batch again would be refused the same
/// way for ever, so the writer sends its halves instead (a handover's overlap re-sends
/// samples the receiver has: see docs/configuration.md for the receiver settings that
/// accept them).
pub fn refused_for_order(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "out of order",
        "out-of-order",
        "out of bounds",
        "too old",
        "duplicate sample",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// `lp` cut in two at the line boundary nearest its middle; `None` for a single line.
pub fn halves(lp: &[u8]) -> Option<(&[u8], &[u8])> {
    let body = lp.strip_suffix(b"\n").unwrap_or(lp);
    let mid = body.len() / 2;
    let cut = body[mid..]
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| mid + i)
        .or_else(|| body[..mid].iter().rposition(|&b| b == b'\n'))?;
    Some(lp.split_at(cut + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_telegrafs_prometheus_serializer() {
        assert_eq!(
            metric_name("vsphere_vm_cpu", "usage_average"),
            "vsphere_vm_cpu_usage_average"
        );
        assert_eq!(metric_name("vcollect", "value"), "vcollect");
        assert_eq!(
            metric_name("vsphere_vm_net", "bytesRx.average"),
            "vsphere_vm_net_bytesRx_average"
        );
        assert_eq!(metric_name("9lives", "a:b-c"), "_9lives_a:b_c");
        assert_eq!(label_name("runtime.powerState"), "runtime_powerState");
        assert_eq!(label_name("a:b"), "a_b");
    }

    #[test]
    fn every_sample_keeps_its_timestamp_and_series_are_grouped() {
        let lp = "vsphere_vm_cpu,moid=vm-1,vcenter=vc1 usage_average=12.5,ready_summation=7i 1700000000\n\
                  vsphere_vm_cpu,moid=vm-1,vcenter=vc1 usage_average=13,ready_summation=8i 1700000020\n\
                  vsphere_vm_cpu,moid=vm-2,vcenter=vc1 usage_average=1,guest=\"ubuntu\",on=true 1700000000\n";
        let (req, strings) = to_write_request(lp).unwrap();
        assert_eq!(strings, 1);
        let find = |name: &str, moid: &str| {
            req.timeseries
                .iter()
                .find(|t| {
                    t.labels
                        .iter()
                        .any(|l| l.name == "__name__" && l.value == name)
                        && t.labels.iter().any(|l| l.name == "moid" && l.value == moid)
                })
                .unwrap_or_else(|| panic!("{name} {moid} not in {req:?}"))
        };
        let usage = find("vsphere_vm_cpu_usage_average", "vm-1");
        let got: Vec<_> = usage
            .samples
            .iter()
            .map(|s| (s.timestamp, s.value))
            .collect();
        assert_eq!(
            got,
            vec![(1_700_000_000_000, 12.5), (1_700_000_020_000, 13.0)]
        );
        let names: Vec<_> = usage.labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, vec!["__name__", "moid", "vcenter"], "sorted by name");
        assert_eq!(
            find("vsphere_vm_cpu_ready_summation", "vm-1").samples.len(),
            2
        );
        assert_eq!(find("vsphere_vm_cpu_on", "vm-2").samples[0].value, 1.0);
        assert_eq!(req.timeseries.len(), 4);
    }

    #[test]
    fn the_body_is_snappy_protobuf_that_decodes_back() {
        let lp = b"m,t=a f=1 10\nm,t=a f=2 20\n";
        let e = encode(lp).unwrap();
        assert_eq!((e.series, e.samples, e.strings_skipped), (1, 2, 0));
        let raw = snap::raw::Decoder::new().decompress_vec(&e.body).unwrap();
        let req: WriteRequest = prost::Message::decode(raw.as_slice()).unwrap();
        assert_eq!(req.timeseries[0].samples[1].timestamp, 20_000);
    }

    #[test]
    fn a_line_that_does_not_parse_is_an_error_naming_it() {
        let e = encode(b"m f=1 10\nnot line protocol\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = encode(b"m f=1\n").unwrap_err();
        assert!(e.to_string().contains("no timestamp"), "{e}");
    }

    #[test]
    fn a_batch_halves_at_line_boundaries_down_to_one_line() {
        let lp = b"a f=1 1\nb f=2 2\nc f=3 3\n";
        let (x, y) = halves(lp).unwrap();
        assert_eq!((x, y), (&b"a f=1 1\nb f=2 2\n"[..], &b"c f=3 3\n"[..]));
        let (x, y) = halves(x).unwrap();
        assert_eq!((x, y), (&b"a f=1 1\n"[..], &b"b f=2 2\n"[..]));
        assert_eq!(halves(b"a f=1 1\n"), None);
        assert_eq!(halves(b"a f=1 1"), None);
        let long_first = b"aaaaaaaaaaaaaaaaaaaaaaaa f=1 1\nb f=2 2\n";
        let (x, y) = halves(long_first).unwrap();
        assert_eq!(y, &b"b f=2 2\n"[..], "{x:?}");
    }

    #[test]
    fn order_refusals_are_told_from_other_bad_requests() {
        assert!(refused_for_order("out of order sample"));
        assert!(refused_for_order(
            "duplicate sample for timestamp; series: {__name__=\"x\"}"
        ));
        assert!(refused_for_order("out of bounds"));
        assert!(!refused_for_order("snappy: corrupt input"));
    }

    #[test]
    fn millisecond_batches_keep_their_milliseconds() {
        let lp = "vsphere_event,type=A,vcenter=vc1 key=1999i 1700000000999\n\
                  vsphere_event,type=A,vcenter=vc1 key=2000i 1700000000000\n";
        let (req, _) = to_write_request_at(lp, Precision::Millis).unwrap();
        let stamps: Vec<i64> = req.timeseries[0]
            .samples
            .iter()
            .map(|s| s.timestamp)
            .collect();
        assert_eq!(stamps, [1_700_000_000_999, 1_700_000_000_000]);
    }
}
