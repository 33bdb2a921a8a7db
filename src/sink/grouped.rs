//! A batch of line protocol read back as numeric samples, each tagged with the output's id
//! for its series and field: what the remote-write and OTLP encoders need, in one pass.
//!
//! Series are recognised by their raw bytes in a [`SeriesCache`] kept between batches (the
//! agent sends the same series every cycle), so a series' names are unescaped, and the
//! output's labels or attributes encoded, once per series while the cache holds it, not
//! once per batch or line; a sample costs a lookup (usually a comparison with the previous
//! line) and a push.

use std::borrow::Cow;
use std::collections::HashMap;

use super::error::SinkError;
use super::interner::Interner;
use super::line_read::{self, Element, Reader, Value};

/// A hash map with a fast, fixed hasher: the keys are this process' own line protocol.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// A numeric value as written (strings are counted, not kept).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    F64(f64),
    I64(i64),
    U64(u64),
    Bool(bool),
}

impl Num {
    /// As a float (booleans are 1 or 0).
    pub fn as_f64(self) -> f64 {
        match self {
            Num::F64(f) => f,
            Num::I64(i) => i as f64,
            Num::U64(u) => u as f64,
            Num::Bool(b) => f64::from(u8::from(b)),
        }
    }
}

/// One sample, in line order.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    /// The output's id for the sample's (series, field), from [`Resolve::slot`].
    pub slot: u32,
    /// As written: epoch seconds (or milliseconds).
    pub timestamp: i64,
    pub value: Num,
}

/// What an output derives from a series and its fields the first time it meets them: its
/// own ids, for the encoded labels or attributes it keeps. Ids are the output's: two raw
/// forms of one series (`\\` and `\` unescape alike) may be given the same.
pub trait Resolve {
    /// A series (unescaped measurement and tags, in the order written) not in the cache.
    fn series(&mut self, measurement: &str, tags: &[(Cow<'_, str>, Cow<'_, str>)]) -> u32;
    /// A field of the output's series `series` not in the cache: the id its points carry.
    fn slot(
        &mut self,
        series: u32,
        measurement: &str,
        tags: &[(Cow<'_, str>, Cow<'_, str>)],
        field: &str,
    ) -> u32;
    /// Each line's series, as read (OTLP keeps its resources in the order of the lines).
    fn line(&mut self, _series: u32) {}
}

/// The series and fields met in earlier batches, by their raw bytes, with the output's ids
/// for them. The agent sends the same series every cycle, so after the first cycle a line
/// costs a hash lookup of its series and a comparison per field: no name is unescaped,
/// sorted or encoded again. Bounded: past [`MAX_SERIES`] series it starts afresh.
#[derive(Debug, Default)]
pub struct SeriesCache {
    /// The raw series, by entry.
    keys: Interner,
    entries: Vec<Entry>,
    /// The raw field keys (few: every series has the same few dozen).
    field_keys: Interner,
}

#[derive(Debug)]
struct Entry {
    /// The output's id for the series.
    id: u32,
    /// Its fields met: raw key (in `field_keys`), the output's slot id.
    fields: Fields,
}

/// How many of a series' fields its entry holds in place (a VM's `cpu` line has 10 numeric
/// fields; the rest of the default counters' lines fewer).
const INLINE_FIELDS: usize = 12;

/// A series' fields, the first [`INLINE_FIELDS`] in the entry itself, any further ones in a
/// `Vec`.
///
/// Why in place: a batch reads the entries in the order of its lines, which in the steady
/// state is the order they were made, so entries that hold their fields are read one after
/// the other and the processor fetches them ahead. With each entry's fields in an
/// allocation of their own, placed among the output's other allocations of that series,
/// the first look at a line's fields was a cache miss: 10 % of remote-write's CPU in the
/// steady state (docs/benchmarks.md).
#[derive(Debug, Default)]
struct Fields {
    len: usize,
    inline: [(u32, u32); INLINE_FIELDS],
    more: Vec<(u32, u32)>,
}

impl Fields {
    #[inline]
    fn get(&self, k: usize) -> Option<(u32, u32)> {
        if k >= self.len {
            None
        } else if k < INLINE_FIELDS {
            Some(self.inline[k])
        } else {
            Some(self.more[k - INLINE_FIELDS])
        }
    }

    fn iter(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.inline[..self.len.min(INLINE_FIELDS)]
            .iter()
            .chain(&self.more)
            .copied()
    }

    fn push(&mut self, field: (u32, u32)) {
        if self.len < INLINE_FIELDS {
            self.inline[self.len] = field;
        } else {
            self.more.push(field);
        }
        self.len += 1;
    }
}

/// The most series a cache keeps (with what the outputs keep per series, some 500 bytes
/// each), and 512 bytes of raw series each: a collector's share of a 10,000-VM vCenter has
/// fewer.
pub const MAX_SERIES: usize = 1 << 17;

impl SeriesCache {
    /// Series cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Reads `lp`, appending its numeric samples to `points` (cleared first) with the slot
    /// ids `r` gives; the number of string fields (which no output sends). Every line must
    /// have a timestamp; a line that does not read is an error naming it (the batch came
    /// from this process or its spool: a bug or a damaged spool file, never input to skip).
    /// The caller clears its own ids with the cache when [`SeriesCache::full`] says so.
    pub fn read(
        &mut self,
        lp: &[u8],
        r: &mut impl Resolve,
        points: &mut Vec<Point>,
    ) -> Result<usize, SinkError> {
        points.clear();
        let mut strings = 0;
        let mut reader = Reader::new(lp);
        let mut fields = Vec::with_capacity(16);
        let mut last: Option<(&[u8], u32)> = None;
        while let Some(line) = reader.next_line(&mut fields) {
            let line = line.map_err(|e| SinkError::Encode(e.to_string()))?;
            let Some(timestamp) = line.timestamp else {
                return Err(SinkError::Encode(format!(
                    "line {}: no timestamp",
                    line.number
                )));
            };
            // The line's names, once unescaped (only for a series or field not cached).
            let mut parsed = None;
            let e = match last {
                Some((raw, e)) if raw == line.series => e,
                _ => {
                    // The series after the last one in the cache, as in the last cycle.
                    let guess = last.map_or(0, |(_, e)| e + 1);
                    if (guess as usize) < self.entries.len() && self.keys.get(guess) == line.series
                    {
                        guess
                    } else {
                        match self.keys.find(line.series) {
                            Some(e) => e,
                            None => self.add(line.series, line.number, r, &mut parsed)?,
                        }
                    }
                }
            };
            last = Some((line.series, e));
            r.line(self.entries[e as usize].id);
            for (k, (key, value)) in fields.iter().enumerate() {
                let value = match *value {
                    Value::F64(f) => Num::F64(f),
                    Value::I64(i) => Num::I64(i),
                    Value::U64(u) => Num::U64(u),
                    Value::Bool(b) => Num::Bool(b),
                    Value::Str(_) => {
                        strings += 1;
                        continue;
                    }
                };
                let slot = match self.cached_slot(e, k, key) {
                    Some(s) => s,
                    None => self.add_slot(e, key, (line.series, line.number), r, &mut parsed)?,
                };
                points.push(Point {
                    slot,
                    timestamp,
                    value,
                });
            }
        }
        Ok(strings)
    }

    /// Whether the cache holds as many series as it may: the caller then clears it and its
    /// own ids between two batches.
    pub fn full(&self) -> bool {
        self.keys.len() >= MAX_SERIES || self.keys.bytes() >= MAX_SERIES * 512
    }

    fn add<'a>(
        &mut self,
        raw: &'a [u8],
        line: usize,
        r: &mut impl Resolve,
        parsed: &mut Option<SeriesNames<'a>>,
    ) -> Result<u32, SinkError> {
        let (measurement, tags) = parsed.insert(names(raw, line)?);
        let id = r.series(measurement, tags);
        // Not found before: its key's id is the next entry's.
        let (e, _) = self.keys.intern(raw);
        self.entries.push(Entry {
            id,
            fields: Fields::default(),
        });
        Ok(e)
    }

    /// The slot of entry `e`'s field `key`, the `k`-th of its line, if cached (lines of a
    /// series usually have the same fields in the same order, so that position is tried
    /// first).
    #[inline]
    fn cached_slot(&self, e: u32, k: usize, key: &[u8]) -> Option<u32> {
        let fields = &self.entries[e as usize].fields;
        if let Some((f, s)) = fields.get(k) {
            if self.field_keys.get(f) == key {
                return Some(s);
            }
        }
        fields
            .iter()
            .find(|&(f, _)| self.field_keys.get(f) == key)
            .map(|(_, s)| s)
    }

    /// Asks `r` for the slot of entry `e`'s field `key`, met for the first time, and keeps it.
    fn add_slot<'a>(
        &mut self,
        e: u32,
        key: &[u8],
        (raw_series, line): (&'a [u8], usize),
        r: &mut impl Resolve,
        parsed: &mut Option<SeriesNames<'a>>,
    ) -> Result<u32, SinkError> {
        let field = line_read::unescape(key, Element::Key).map_err(|e| {
            SinkError::Encode(format!("line {line}: a field key is not UTF-8: {e}"))
        })?;
        let (measurement, tags) = match parsed {
            Some(p) => p,
            None => parsed.insert(names(raw_series, line)?),
        };
        let slot = r.slot(self.entries[e as usize].id, measurement, tags, &field);
        let (f, _) = self.field_keys.intern(key);
        self.entries[e as usize].fields.push((f, slot));
        Ok(slot)
    }
}

/// A series' measurement and tags, unescaped.
type SeriesNames<'a> = (Cow<'a, str>, Vec<(Cow<'a, str>, Cow<'a, str>)>);

/// A raw series' measurement and tags, unescaped.
fn names(raw: &[u8], line: usize) -> Result<SeriesNames<'_>, SinkError> {
    let bad = |what: String| SinkError::Encode(format!("line {line}: {what}"));
    let (m, tags) = line_read::split_series(raw).map_err(bad)?;
    let text = |raw, el: Element| {
        line_read::unescape(raw, el).map_err(|e| bad(format!("a name is not UTF-8: {e}")))
    };
    let measurement = text(m, Element::Measurement)?;
    let tags = tags
        .into_iter()
        .map(|(k, v)| Ok((text(k, Element::Key)?, text(v, Element::Key)?)))
        .collect::<Result<_, SinkError>>()?;
    Ok((measurement, tags))
}

/// Per batch, the output's ids (below `n`) renumbered in the order they first appear: the
/// cache's ids span every series met, a batch uses a few of them. Reused between batches.
#[derive(Debug, Default)]
pub struct Local {
    /// Per global id: the batch it was last met in, and its local id then.
    seen: Vec<(u32, u32)>,
    batch: u32,
    /// The global ids met in this batch, by local id.
    pub order: Vec<u32>,
}

impl Local {
    /// Starts a batch.
    pub fn start(&mut self) {
        self.batch = self.batch.wrapping_add(1);
        if self.batch == 0 {
            // Wrapped: no stale stamp may look current.
            self.seen.iter_mut().for_each(|s| s.0 = 0);
            self.batch = 1;
        }
        self.order.clear();
    }

    /// The local id of global id `g`, and whether it is new in this batch.
    #[inline]
    pub fn id(&mut self, g: u32) -> (u32, bool) {
        let g = g as usize;
        if g >= self.seen.len() {
            self.seen.resize(g + 1, (0, 0));
        }
        let s = &mut self.seen[g];
        if s.0 == self.batch {
            return (s.1, false);
        }
        *s = (self.batch, self.order.len() as u32);
        self.order.push(g as u32);
        (s.1, true)
    }
}

/// The id of `value` in `list` (the outputs' tables of labels, attributes, metrics), added
/// if new.
pub fn intern<K: std::hash::Hash + Eq + Clone>(
    ids: &mut FastMap<K, u32>,
    list: &mut Vec<K>,
    value: K,
) -> u32 {
    *ids.entry(value).or_insert_with_key(|v| {
        list.push(v.clone());
        (list.len() - 1) as u32
    })
}

/// Points ordered by key (a counting sort), each key's in their order; the buffers are
/// reused between batches.
#[derive(Debug, Default)]
pub struct Runs {
    /// Indices into the keys, by key.
    pub order: Vec<u32>,
    /// Where each key's run starts: `order[starts[k]..starts[k + 1]]`.
    pub starts: Vec<u32>,
    next: Vec<u32>,
}

impl Runs {
    /// Sorts the indices of `keys` (each below `n`).
    pub fn sort(&mut self, keys: &[u32], n: usize) {
        let starts = &mut self.starts;
        starts.clear();
        starts.resize(n + 1, 0);
        for &k in keys {
            starts[k as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        self.next.clear();
        self.next.extend_from_slice(starts);
        self.order.clear();
        self.order.resize(keys.len(), 0);
        for (i, &k) in keys.iter().enumerate() {
            let n = &mut self.next[k as usize];
            self.order[*n as usize] = i as u32;
            *n += 1;
        }
    }

    /// The indices with key `k`, in their order.
    #[inline]
    pub fn run(&self, k: usize) -> &[u32] {
        &self.order[self.starts[k] as usize..self.starts[k + 1] as usize]
    }
}

#[cfg(test)]
mod tests;
