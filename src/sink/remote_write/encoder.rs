//! The snappy-compressed `WriteRequest` of a batch, assembled by hand from pieces an output
//! keeps between batches: each series' tag labels (sanitised, sorted, encoded) and each
//! metric name's `__name__` label, in a [`SeriesCache`] and the tables here. A sample then
//! costs its 20-odd bytes, and a time series its labels' bytes copied.
//! ([`super::general::to_write_request`] is the same conversion with the general parser and
//! prost's types, which the tests compare it with.)

use std::borrow::Cow;

use super::{label, metric_name, sample_size, series_labels, ts_ms, Encoded, NAME_LABEL};
use crate::sink::grouped::{FastMap, Local, Point, Resolve, Runs, SeriesCache};
use crate::sink::interner::Interner;
use crate::sink::proto;
use crate::sink::{Precision, SinkError};

/// A remote-write output's encoder: one per output, kept between batches.
#[derive(Debug, Default)]
pub struct Encoder {
    cache: SeriesCache,
    ids: Ids,
    points: Vec<Point>,
    slots: Local,
    /// Per point, its time series' local id.
    keys: Vec<u32>,
    runs: Runs,
    /// The uncompressed request and snappy's output: a few MB per batch, reused, as fresh
    /// buffers that size cost more in page faults than in copying.
    raw: Vec<u8>,
    packed: Vec<u8>,
}

/// The largest scratch buffer kept between batches.
const SCRATCH_KEEP: usize = 64 << 20;

/// What the output derived from the series met so far.
#[derive(Debug, Default)]
struct Ids {
    /// The series met, by their unescaped names (see [`names_key`]): a time series is a
    /// series' field, as the general conversion groups them, even where two sanitise to the
    /// same labels.
    series: Interner,
    /// Per series: its tag labels (encoded and sorted by name, in `labels`) and where
    /// `__name__` goes among them.
    series_labels: Vec<(u32, usize)>,
    labels: Interner,
    /// Encoded `__name__` labels, by metric name.
    names: Vec<Box<[u8]>>,
    name_ids: FastMap<String, u32>,
    /// Per time series: its series and its name.
    slots: Vec<(u32, u32)>,
    slot_ids: FastMap<(u32, String), u32>,
}

impl Resolve for Ids {
    fn series(&mut self, measurement: &str, tags: &[(Cow<'_, str>, Cow<'_, str>)]) -> u32 {
        let (id, new) = self.series.intern(&names_key(measurement, tags));
        if new {
            let (buf, split) = series_labels(tags);
            self.series_labels.push((self.labels.intern(&buf).0, split));
        }
        id
    }

    fn slot(
        &mut self,
        series: u32,
        measurement: &str,
        _tags: &[(Cow<'_, str>, Cow<'_, str>)],
        field: &str,
    ) -> u32 {
        if let Some(&s) = self.slot_ids.get(&(series, field.to_string())) {
            return s;
        }
        let name = metric_name(measurement, field);
        let n = match self.name_ids.get(&name) {
            Some(&n) => n,
            None => {
                let mut b = Vec::new();
                label(NAME_LABEL, &name, &mut b);
                self.names.push(b.into());
                let n = (self.names.len() - 1) as u32;
                self.name_ids.insert(name, n);
                n
            }
        };
        self.slots.push((series, n));
        let s = (self.slots.len() - 1) as u32;
        self.slot_ids.insert((series, field.to_string()), s);
        s
    }
}

/// A series' unescaped measurement and tags as one key: each string after its length.
fn names_key(measurement: &str, tags: &[(Cow<'_, str>, Cow<'_, str>)]) -> Vec<u8> {
    let mut key = Vec::with_capacity(measurement.len() + tags.len() * 32 + 8);
    let strings =
        std::iter::once(measurement).chain(tags.iter().flat_map(|(k, v)| [k.as_ref(), v.as_ref()]));
    for s in strings {
        key.extend_from_slice(&(s.len() as u64).to_le_bytes());
        key.extend_from_slice(s.as_bytes());
    }
    key
}

impl Encoder {
    /// Converts a batch with timestamps in `precision` into a snappy-compressed
    /// `WriteRequest`: each time series once, with its samples in the order of the lines.
    pub fn encode(&mut self, lp: &[u8], precision: Precision) -> Result<Encoded, SinkError> {
        if self.cache.full() {
            *self = Encoder::default();
        }
        let strings = self.cache.read(lp, &mut self.ids, &mut self.points)?;
        self.slots.start();
        self.keys.clear();
        for p in &self.points {
            self.keys.push(self.slots.id(p.slot).0);
        }
        self.runs.sort(&self.keys, self.slots.order.len());
        self.raw.clear();
        self.write_request(precision);
        self.packed
            .resize(snap::raw::max_compress_len(self.raw.len()), 0);
        let n = snap::raw::Encoder::new()
            .compress(&self.raw, &mut self.packed)
            .map_err(|e| SinkError::Encode(format!("snappy: {e}")))?;
        let body = self.packed[..n].to_vec();
        // A batch far larger than usual does not pin its buffers for ever.
        if self.raw.capacity() > SCRATCH_KEEP {
            self.raw = Vec::new();
            self.packed = Vec::new();
        }
        Ok(Encoded {
            body,
            series: self.slots.order.len(),
            samples: self.points.len(),
            strings_skipped: strings,
        })
    }

    /// The uncompressed `WriteRequest` of the batch, into `raw`.
    fn write_request(&mut self, precision: Precision) {
        let ids = &self.ids;
        let out = &mut self.raw;
        out.reserve(self.points.len() * 24 + self.slots.order.len() * 256);
        for (local, &slot) in self.slots.order.iter().enumerate() {
            let run = self.runs.run(local);
            let (series, name) = ids.slots[slot as usize];
            let (labels, split) = ids.series_labels[series as usize];
            let labels = ids.labels.get(labels);
            let name = &ids.names[name as usize];
            let samples: usize = run
                .iter()
                .map(|&i| {
                    let ts = ts_ms(self.points[i as usize].timestamp, precision);
                    proto::len_field_size(sample_size(ts))
                })
                .sum();
            proto::len_header(1, labels.len() + name.len() + samples, out);
            out.extend_from_slice(&labels[..split]);
            out.extend_from_slice(name);
            out.extend_from_slice(&labels[split..]);
            for &i in run {
                let p = &self.points[i as usize];
                let ts = ts_ms(p.timestamp, precision);
                proto::len_header(2, sample_size(ts), out);
                proto::fixed64_field(1, p.value.as_f64().to_bits(), out);
                out.push(proto::key(2, proto::VARINT));
                proto::varint(ts as u64, out);
            }
        }
    }
}
