//! A batch of line protocol read back as numeric samples grouped by series (measurement and
//! tags) and field: what the remote-write and OTLP encoders need, built in one pass.
//!
//! Lines of the same series (the collector writes one per sample time) are recognised by
//! their raw bytes, so a series' names are unescaped once per batch, not once per line, and
//! a sample costs a lookup (usually a comparison with the previous line) and a push.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasher;

use super::error::SinkError;
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

/// One series: its measurement and tags, unescaped (borrowed from the batch unless they had
/// an escape), the tags in the order written.
#[derive(Debug)]
pub struct Series<'a> {
    pub measurement: Cow<'a, str>,
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// Its slots, by raw field key.
    fields: Vec<(&'a [u8], u32)>,
}

/// One (series, field): a time series of remote-write, a point stream of OTLP.
#[derive(Debug)]
pub struct Slot<'a> {
    pub series: u32,
    pub field: Cow<'a, str>,
}

/// One sample, in line order.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    pub slot: u32,
    /// As written: epoch seconds.
    pub timestamp: i64,
    pub value: Num,
}

/// A batch's samples; series and slots in the order they first appear.
#[derive(Debug, Default)]
pub struct Grouped<'a> {
    pub series: Vec<Series<'a>>,
    pub slots: Vec<Slot<'a>>,
    pub points: Vec<Point>,
    /// String fields, which neither output sends.
    pub strings: usize,
}

impl<'a> Grouped<'a> {
    /// Reads `lp`. Every line must have a timestamp; a line that does not read is an error
    /// naming it (the batch came from this process or its spool: a bug or a damaged spool
    /// file, never input to skip).
    pub fn read(lp: &'a [u8]) -> Result<Grouped<'a>, SinkError> {
        let mut g = Grouped::default();
        let mut index: FastMap<&[u8], u32> = FastMap::default();
        // Series by a hash of their names, for the rare raw forms that unescape alike
        // (`\\` and `\`): every series with that hash.
        let mut by_name: FastMap<u64, Vec<u32>> = FastMap::default();
        let mut reader = Reader::new(lp);
        let mut fields = Vec::with_capacity(16);
        let mut last: Option<(&'a [u8], u32)> = None;
        while let Some(line) = reader.next_line(&mut fields) {
            let line = line.map_err(|e| SinkError::Encode(e.to_string()))?;
            let Some(timestamp) = line.timestamp else {
                return Err(SinkError::Encode(format!(
                    "line {}: no timestamp",
                    line.number
                )));
            };
            let series = match last {
                Some((raw, s)) if raw == line.series => s,
                _ => match index.get(line.series) {
                    Some(&s) => s,
                    None => {
                        let s = g.add_series(line.series, line.number, &mut by_name)?;
                        index.insert(line.series, s);
                        s
                    }
                },
            };
            last = Some((line.series, series));
            for (k, (key, value)) in fields.iter().enumerate() {
                let value = match *value {
                    Value::F64(f) => Num::F64(f),
                    Value::I64(i) => Num::I64(i),
                    Value::U64(u) => Num::U64(u),
                    Value::Bool(b) => Num::Bool(b),
                    Value::Str(_) => {
                        g.strings += 1;
                        continue;
                    }
                };
                let slot = g.slot(series, k, key, line.number)?;
                g.points.push(Point {
                    slot,
                    timestamp,
                    value,
                });
            }
        }
        Ok(g)
    }

    fn add_series(
        &mut self,
        raw: &'a [u8],
        line: usize,
        by_name: &mut FastMap<u64, Vec<u32>>,
    ) -> Result<u32, SinkError> {
        let bad = |what: String| SinkError::Encode(format!("line {line}: {what}"));
        let (m, tags) = line_read::split_series(raw).map_err(bad)?;
        let text = |raw: &'a [u8], el: Element| {
            line_read::unescape(raw, el).map_err(|e| bad(format!("a name is not UTF-8: {e}")))
        };
        let measurement = text(m, Element::Measurement)?;
        let tags: Vec<(Cow<'a, str>, Cow<'a, str>)> = tags
            .into_iter()
            .map(|(k, v)| Ok((text(k, Element::Key)?, text(v, Element::Key)?)))
            .collect::<Result<_, SinkError>>()?;
        let hash = foldhash::fast::FixedState::default().hash_one((&measurement, &tags));
        let same = by_name.entry(hash).or_default();
        if let Some(&id) = same.iter().find(|&&id| {
            let s = &self.series[id as usize];
            s.measurement == measurement && s.tags == tags
        }) {
            return Ok(id);
        }
        let id = self.series.len() as u32;
        same.push(id);
        self.series.push(Series {
            measurement,
            tags,
            fields: Vec::with_capacity(8),
        });
        Ok(id)
    }

    /// The slot of `series`' field `key`, the `k`-th of its line (lines of a series usually
    /// have the same fields in the same order, so that position is tried first).
    #[inline]
    fn slot(
        &mut self,
        series: u32,
        k: usize,
        key: &'a [u8],
        line: usize,
    ) -> Result<u32, SinkError> {
        let fields = &self.series[series as usize].fields;
        if let Some((f, s)) = fields.get(k) {
            if **f == *key {
                return Ok(*s);
            }
        }
        if let Some((_, s)) = fields.iter().find(|(f, _)| **f == *key) {
            return Ok(*s);
        }
        let field = line_read::unescape(key, Element::Key).map_err(|e| {
            SinkError::Encode(format!("line {line}: a field key is not UTF-8: {e}"))
        })?;
        // A raw form not seen before may still name a known field (`\\` and `\`).
        let known = fields
            .iter()
            .find(|(_, s)| self.slots[*s as usize].field == field)
            .map(|(_, s)| *s);
        let slot = known.unwrap_or(self.slots.len() as u32);
        if known.is_none() {
            self.slots.push(Slot { series, field });
        }
        self.series[series as usize].fields.push((key, slot));
        Ok(slot)
    }

    /// The points' indices ordered by slot, each slot's in line order, and where each
    /// slot's run starts (see [`runs`]).
    pub fn by_slot(&self) -> (Vec<u32>, Vec<u32>) {
        let keys: Vec<u32> = self.points.iter().map(|p| p.slot).collect();
        runs(&keys, self.slots.len())
    }
}

/// The indices of `keys` (each below `n`) ordered by key, each key's in their order (a
/// counting sort), and where each key's run starts: `order[starts[k]..starts[k + 1]]`.
pub fn runs(keys: &[u32], n: usize) -> (Vec<u32>, Vec<u32>) {
    let mut starts = vec![0u32; n + 1];
    for &k in keys {
        starts[k as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut next = starts.clone();
    let mut order = vec![0u32; keys.len()];
    for (i, &k) in keys.iter().enumerate() {
        let n = &mut next[k as usize];
        order[*n as usize] = i as u32;
        *n += 1;
    }
    (order, starts)
}

#[cfg(test)]
mod tests;
