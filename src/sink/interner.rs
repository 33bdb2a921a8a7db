//! Byte strings kept once each, in one buffer in the order they were added, by id: the raw
//! series the remote-write and OTLP outputs have met, and the labels and attributes they
//! encoded for them.
//!
//! Why one buffer: an output meets the same series in the same order every cycle, so the
//! strings it compares and copies for a batch lie one after the other in memory and the
//! processor's prefetcher fetches them ahead; as separate allocations they were scattered,
//! and comparing and copying them cost a cache miss each (a third of the conversion's time
//! in `perf`, docs/benchmarks.md).

use std::collections::HashMap;
use std::hash::BuildHasher;

/// No next id (the end of a chain).
const NONE: u32 = u32::MAX;

#[derive(Debug, Default)]
pub struct Interner {
    bytes: Vec<u8>,
    /// Per id: where its bytes are.
    spans: Vec<(usize, usize)>,
    /// The first id with a hash.
    index: HashMap<u64, u32, foldhash::fast::FixedState>,
    /// Per id: the next id with the same hash, or [`NONE`].
    next: Vec<u32>,
}

impl Interner {
    /// Strings kept.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Bytes kept.
    pub fn bytes(&self) -> usize {
        self.bytes.len()
    }

    /// The string `id`.
    #[inline]
    pub fn get(&self, id: u32) -> &[u8] {
        let (start, end) = self.spans[id as usize];
        &self.bytes[start..end]
    }

    /// The id of `b`, if kept.
    #[inline]
    pub fn find(&self, b: &[u8]) -> Option<u32> {
        self.find_hashed(b, hash(b))
    }

    fn find_hashed(&self, b: &[u8], h: u64) -> Option<u32> {
        let mut id = *self.index.get(&h)?;
        while id != NONE {
            if self.get(id) == b {
                return Some(id);
            }
            id = self.next[id as usize];
        }
        None
    }

    /// The id of `b`, kept if new; and whether it was.
    pub fn intern(&mut self, b: &[u8]) -> (u32, bool) {
        let h = hash(b);
        if let Some(id) = self.find_hashed(b, h) {
            return (id, false);
        }
        let id = self.spans.len() as u32;
        let start = self.bytes.len();
        self.bytes.extend_from_slice(b);
        self.spans.push((start, self.bytes.len()));
        let first = self.index.entry(h).or_insert(NONE);
        self.next.push(*first);
        *first = id;
        (id, true)
    }
}

fn hash(b: &[u8]) -> u64 {
    foldhash::fast::FixedState::default().hash_one(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_string_is_kept_once_and_found_by_its_bytes() {
        let mut i = Interner::default();
        assert_eq!(i.intern(b"a"), (0, true));
        assert_eq!(i.intern(b"bc"), (1, true));
        assert_eq!(i.intern(b""), (2, true));
        assert_eq!(i.intern(b"a"), (0, false));
        assert_eq!((i.get(1), i.get(2)), (&b"bc"[..], &b""[..]));
        assert_eq!((i.find(b"bc"), i.find(b"b")), (Some(1), None));
        assert_eq!((i.len(), i.bytes()), (3, 3));
    }

    #[test]
    fn strings_that_share_a_hash_are_told_apart() {
        let mut i = Interner::default();
        let (a, _) = i.intern(b"x");
        // Forge a collision: chain a second string under the first one's hash.
        let h = hash(b"x");
        let id = i.spans.len() as u32;
        i.bytes.extend_from_slice(b"y");
        i.spans.push((1, 2));
        i.next.push(a);
        i.index.insert(h, id);
        assert_eq!(i.find_hashed(b"x", h), Some(a));
        assert_eq!(i.find_hashed(b"y", h), Some(id));
        assert_eq!(i.find_hashed(b"z", h), None);
    }
}
