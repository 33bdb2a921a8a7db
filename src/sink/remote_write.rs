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
//! output kind; a retry converts again, which costs less than keeping two forms. The
//! output keeps its [`Encoder`] between batches, with each series' encoded labels.

use std::borrow::Cow;

use super::error::SinkError;
use super::proto;

mod encoder;
pub mod general;
use super::Precision;
pub use encoder::Encoder;

/// The protocol's messages (prometheus/prompb `types.proto` and `remote.proto`, version 1.0:
/// only the fields a writer of samples sets).
pub(crate) mod prompb {
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
/// `WriteRequest`, with a fresh [`Encoder`] (the output keeps one between batches): each
/// series once with its samples in the order of the lines. A line that does not read is an
/// error naming it: the batch came from this process or its spool, so it is a bug or a
/// damaged spool file, never input to skip.
pub fn encode(lp: &[u8]) -> Result<Encoded, SinkError> {
    encode_at(lp, Precision::Seconds)
}

/// [`encode`] for line protocol with timestamps in `precision` (events are written in
/// milliseconds).
pub fn encode_at(lp: &[u8], precision: Precision) -> Result<Encoded, SinkError> {
    Encoder::default().encode(lp, precision)
}

const NAME_LABEL: &str = "__name__";

/// A series' tag labels, encoded and sorted by name; where `__name__` goes among them (the
/// labels before it sort before it).
fn series_labels(tags: &[(Cow<'_, str>, Cow<'_, str>)]) -> (Vec<u8>, usize) {
    let mut named: Vec<(Cow<'_, str>, &str)> = tags
        .iter()
        .map(|(k, v)| (label_name(k), v.as_ref()))
        .collect();
    // Stable, as the general conversion's sort (a tag sanitised to a name another has keeps
    // its line order), and `__name__` after any tag of the same name (it is pushed last there).
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let before = named.partition_point(|(k, _)| k.as_ref() <= NAME_LABEL);
    let mut buf = Vec::new();
    let mut split = 0;
    for (i, (k, v)) in named.iter().enumerate() {
        if i == before {
            split = buf.len();
        }
        label(k, v, &mut buf);
    }
    if before == named.len() {
        split = buf.len();
    }
    (buf, split)
}

/// An encoded `Label` field of a `TimeSeries`.
fn label(name: &str, value: &str, out: &mut Vec<u8>) {
    let len = proto::len_field_size(name.len()) + proto::len_field_size(value.len());
    proto::len_header(1, len, out);
    proto::bytes_field(1, name.as_bytes(), out);
    proto::bytes_field(2, value.as_bytes(), out);
}

/// The encoded size of a `Sample` (value, timestamp in milliseconds).
#[inline]
fn sample_size(ts_ms: i64) -> usize {
    9 + 1 + proto::varint_len(ts_ms as u64)
}

/// A line's timestamp, in `precision`, as remote-write's milliseconds.
#[inline]
fn ts_ms(ts: i64, precision: Precision) -> i64 {
    ts.saturating_mul(precision.millis())
}

/// Telegraf's prometheus metric name of a field: `<measurement>_<field>`, or the
/// measurement alone for a field named `value`, sanitised.
pub fn metric_name(measurement: &str, field: &str) -> String {
    let raw = if field == "value" {
        measurement.to_string()
    } else {
        format!("{measurement}_{field}")
    };
    sanitise(&raw, true).into_owned()
}

/// A label name from a tag key, sanitised.
pub(crate) fn label_name(key: &str) -> Cow<'_, str> {
    sanitise(key, false)
}

/// Prometheus' character sets: metric names `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names
/// `[a-zA-Z_][a-zA-Z0-9_]*`; every other character becomes `_`, and a leading digit gets a
/// `_` in front (as Telegraf's serializer does).
fn sanitise(s: &str, metric: bool) -> Cow<'_, str> {
    let valid = |i: usize, c: u8| {
        c.is_ascii_alphabetic()
            || c == b'_'
            || (metric && c == b':')
            || (i > 0 && c.is_ascii_digit())
    };
    if !s.is_empty() && s.bytes().enumerate().all(|(i, c)| valid(i, c)) {
        return Cow::Borrowed(s);
    }
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
    Cow::Owned(out)
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
        let (req, strings) = general::to_write_request(lp).unwrap();
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
        let e = encode_at(lp.as_bytes(), Precision::Millis).unwrap();
        let raw = snap::raw::Decoder::new().decompress_vec(&e.body).unwrap();
        let req = <WriteRequest as prost::Message>::decode(&raw[..]).unwrap();
        let stamps: Vec<i64> = req.timeseries[0]
            .samples
            .iter()
            .map(|s| s.timestamp)
            .collect();
        assert_eq!(stamps, [1_700_000_000_999, 1_700_000_000_000]);
    }
}
