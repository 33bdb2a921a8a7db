//! The one driver of [`PerfParser`] over bytes, shared by the streaming reader (the HTTP
//! body, read chunk by chunk) and the slice parser (a whole answer in memory).
//!
//! A chunk of the body ends anywhere: inside a tag, a comment, a CDATA section or a text. A
//! *pass* parses the pending bytes event by event and stops at the first event it cannot
//! finish with the bytes it has; everything before that point (the *cut*) has been handed to
//! the parser and is dropped, the rest waits for the next read. The cut comes from the
//! reader's own position after a complete event, never from a text search, so a
//! `</returnval>` inside a comment or an attribute cannot fool it, and the parser sees the
//! same events whatever the chunking. The slice parser is the same pass with "this is the
//! end of the input" set, so both give the same entities, values and errors.
//!
//! Cost stays linear: each pass starts at the previous cut, and after a pass that could not
//! finish an event, the next one waits until the pending bytes have doubled, so one long
//! token (a CSV series, a comment) is re-scanned a logarithmic number of times. A pass also
//! waits for [`MIN_PASS`] new bytes (or the end of the body): a pass has a fixed cost (a
//! fresh quick-xml reader, the re-scan of the token it stopped in, moving the tail to the
//! front of the buffer), which over 1-KB reads of an 8.8 MB answer was a quarter of the
//! parse. Which bytes a pass sees never changes what comes out, only when.

use std::collections::VecDeque;

use quick_xml::errors::{IllFormedError, SyntaxError};
use quick_xml::events::Event;
use quick_xml::Reader;

use super::{PerfParseError, PerfParser, QueryStats};
use crate::vsphere::types::EntityMetrics;

/// The longest single XML token (a text, a tag, a comment) accepted, in bytes; it also bounds
/// the streaming reader's pending buffer (this plus one read). The largest legitimate one is
/// a CSV series or `sampleInfoCSV` of a long window: 25 bytes per sample, so 4 MiB is
/// 170,000 samples of one counter, far beyond an hour (180) or a day of 5-minute ones (288).
pub const MAX_TOKEN: usize = 4 << 20;

/// Bytes asked of the body per read.
const READ_CHUNK: usize = 64 * 1024;

/// The new bytes a pass waits for, unless the body ended or failed: small reads are gathered
/// into passes of at least this size, so the per-pass cost is paid once per 32 KB, not once
/// per TLS record. An entity is handed out at most this many bytes after its `</returnval>`
/// arrived; the pending buffer stays below [`MAX_TOKEN`] plus one read.
const MIN_PASS: usize = 32 * 1024;

/// The UTF-8 byte-order mark a fresh quick-xml reader drops from the start of its input.
const BOM: &[u8] = b"\xEF\xBB\xBF";

fn too_long(at: u64, max: usize) -> PerfParseError {
    PerfParseError::Malformed(format!(
        "at byte {at}: an XML token (text, tag or comment) longer than {max} bytes"
    ))
}

/// Maps a quick-xml error: input that stops in the middle of markup is a truncation (a
/// broken connection surfaces as an I/O error); the rest is malformed.
fn xml_error(e: quick_xml::Error, pos: u64, at_end: bool) -> PerfParseError {
    match &e {
        quick_xml::Error::Io(io) => PerfParseError::Truncated(format!("read failed: {io}")),
        quick_xml::Error::Syntax(_) if at_end => {
            PerfParseError::Truncated(format!("at byte {pos}: {e}"))
        }
        quick_xml::Error::IllFormed(IllFormedError::MissingEndTag(_)) if at_end => {
            PerfParseError::Truncated(format!("at byte {pos}: {e}"))
        }
        _ => PerfParseError::Malformed(format!("at byte {pos}: {e}")),
    }
}

/// A fresh reader drops a BOM at the start of its input: right for the document's first
/// byte, wrong for a pass that starts inside a text. Such a text is handed over here.
/// Returns the bytes it took, or `None` when the text may go on in the next read.
fn leading_text(
    p: &mut PerfParser,
    buf: &[u8],
    base: u64,
    last: bool,
    max: usize,
) -> Result<Option<usize>, PerfParseError> {
    if base == 0 || buf.is_empty() || buf.first() == Some(&b'<') {
        return Ok(Some(0));
    }
    let end = match memchr::memchr(b'<', buf) {
        Some(lt) => lt,
        None if last => buf.len(),
        None => return Ok(None),
    };
    if end > max {
        return Err(too_long(base, max));
    }
    p.text(&buf[..end])?;
    Ok(Some(end))
}

/// One pass of the parser over `buf`, the pending bytes, which start at byte `base` of the
/// body at an event boundary. `last` says that `buf` ends the body. Entities go to `out`.
/// Returns the cut: the bytes fully handled (all of `buf` when `last`).
pub(super) fn pass(
    p: &mut PerfParser,
    out: &mut dyn FnMut(EntityMetrics),
    buf: &[u8],
    base: u64,
    last: bool,
    max: usize,
) -> Result<usize, PerfParseError> {
    let Some(mut cut) = leading_text(p, buf, base, last, max)? else {
        return Ok(0);
    };
    let start = cut;
    let rest = &buf[start..];
    let bom = if base == 0 && rest.starts_with(BOM) {
        BOM.len() as u64
    } else {
        0
    };
    let mut reader = Reader::from_reader(rest);
    // A pass may close elements opened in an earlier one; the parser keeps its own stack
    // and checks the structure itself (in both drivers, so that the errors are the same).
    reader.config_mut().check_end_names = false;
    reader.config_mut().allow_unmatched_ends = true;
    let mut skipped = 0u64;
    let mut after_tag = false;
    loop {
        if after_tag {
            // The leaf fast path: only where quick-xml stands just after a `>`.
            let r: &[u8] = reader.get_ref();
            let n = p.leaf_run(r)?;
            if n > 0 {
                *reader.get_mut() = &r[n..];
                skipped += n as u64;
                cut = buf.len() - (r.len() - n);
            }
        }
        let ev = reader.read_event();
        let remaining = reader.get_ref().len();
        let pos = buf.len() - remaining;
        match ev {
            Err(e) => {
                // The reader ran into the end of the bytes: more may finish the token. (On
                // an error quick-xml counts what it read, but leaves its slice as it was;
                // `<!` with nothing after it fails one byte before the end.)
                let read = bom + skipped + reader.buffer_position();
                let slack = u64::from(matches!(
                    e,
                    quick_xml::Error::Syntax(SyntaxError::InvalidBangMarkup)
                ));
                let at_end = read + slack >= rest.len() as u64;
                if at_end && !last {
                    return Ok(cut);
                }
                if at_end && buf.len() - cut > max {
                    return Err(too_long(base + cut as u64, max));
                }
                let at = base + start as u64 + bom + skipped + reader.error_position();
                return Err(xml_error(e, at, at_end));
            }
            Ok(Event::Eof) => {
                if !last {
                    return Ok(cut);
                }
                p.handle(Event::Eof)?;
                return Ok(buf.len());
            }
            Ok(Event::Text(t)) => {
                // quick-xml takes the `<` after a text with it; a text that runs to the end
                // of the bytes may go on in the next read.
                let to_end = remaining == 0 && buf.last() != Some(&b'<');
                if to_end && !last {
                    return Ok(cut);
                }
                let next = if to_end { buf.len() } else { pos - 1 };
                if next - cut > max {
                    return Err(too_long(base + cut as u64, max));
                }
                if let Some(em) = p.handle(Event::Text(t))? {
                    out(em);
                }
                cut = next;
                after_tag = false;
            }
            Ok(ev) => {
                if pos - cut > max {
                    return Err(too_long(base + cut as u64, max));
                }
                after_tag = matches!(ev, Event::Start(_) | Event::End(_) | Event::Empty(_));
                if let Some(em) = p.handle(ev)? {
                    out(em);
                }
                cut = pos;
            }
        }
    }
}

/// The pending bytes at which the next pass starts, after a pass that left `tail` bytes (an
/// incomplete token): [`MIN_PASS`] new bytes, or twice the tail when that is more, and at
/// most one byte over the token limit (so that a token over it is reported).
fn next_pass_at(tail: usize, max_token: usize) -> usize {
    tail.saturating_mul(2)
        .max(tail + MIN_PASS)
        .min(max_token + 1)
        .max(tail + 1)
}

/// Parses a whole QueryPerf answer held in memory, calling `f` for every entity.
/// Returns the stats or the first error.
pub fn parse_perf_slice(
    doc: &[u8],
    mut f: impl FnMut(EntityMetrics),
) -> Result<QueryStats, PerfParseError> {
    let mut parser = PerfParser::new();
    let mut stats = QueryStats::default();
    let mut out = |em: EntityMetrics| {
        stats.entities += 1;
        f(em);
    };
    let n = pass(&mut parser, &mut out, doc, 0, true, MAX_TOKEN)?;
    stats.bytes = n as u64;
    Ok(stats)
}

/// Drives a [`PerfParser`] over an async reader (the HTTP body), one entity at a time.
///
/// The body is read in chunks into a buffer, parsed in place with quick-xml's borrowing
/// slice reader (no event is copied), up to the last complete event. Memory stays bounded
/// by one entity's parsed answer plus the pending bytes (at most [`MAX_TOKEN`] plus one
/// read), never the whole response.
pub struct PerfReader<R> {
    src: R,
    /// Bytes read but not parsed yet (they end inside an XML token).
    buf: Vec<u8>,
    /// Entities parsed, not handed out yet.
    ready: VecDeque<EntityMetrics>,
    parser: PerfParser,
    eof: bool,
    /// Bytes parsed so far (for error positions and stats).
    consumed: u64,
    /// The next pass waits for this many pending bytes: [`MIN_PASS`] more than the last pass
    /// left, or twice that while one long token is incomplete (so that catch-up stays linear).
    retry_at: usize,
    /// The error that ended the stream: reported once the entities before it are out.
    failed: Option<PerfParseError>,
    max_token: usize,
}

impl<R: tokio::io::AsyncRead + Unpin> PerfReader<R> {
    pub fn new(r: R) -> Self {
        Self::with_max_token(r, MAX_TOKEN)
    }

    /// A reader with another token limit (tests: the limit's error without 4 MiB inputs).
    pub fn with_max_token(r: R, max_token: usize) -> Self {
        PerfReader {
            src: r,
            buf: Vec::with_capacity(2 * READ_CHUNK),
            ready: VecDeque::new(),
            parser: PerfParser::new(),
            eof: false,
            consumed: 0,
            retry_at: next_pass_at(0, max_token),
            failed: None,
            max_token,
        }
    }

    /// Parses what is pending; at the end of the body also tells the parser so.
    fn step(&mut self) {
        let last = self.eof;
        let ready = &mut self.ready;
        let r = pass(
            &mut self.parser,
            &mut |em| ready.push_back(em),
            &self.buf,
            self.consumed,
            last,
            self.max_token,
        );
        match r {
            Ok(cut) => {
                self.buf.drain(..cut);
                self.consumed += cut as u64;
                let tail = self.buf.len();
                if last && !self.parser.finished() {
                    // Cannot happen (the last pass ends with the parser's end of input or an
                    // error), but never loop for ever on a broken body.
                    self.failed = Some(PerfParseError::Truncated("response ended early".into()));
                } else if tail > self.max_token {
                    self.failed = Some(too_long(self.consumed, self.max_token));
                }
                self.retry_at = next_pass_at(tail, self.max_token);
            }
            Err(e) => self.failed = Some(e),
        }
        if self.failed.is_some() {
            self.buf = Vec::new();
            self.eof = true;
        }
    }

    /// The next entity; `Ok(None)` after a complete document. After an error, every call
    /// returns that error again.
    pub async fn next(&mut self) -> Result<Option<EntityMetrics>, PerfParseError> {
        use bytes::BufMut;
        use tokio::io::AsyncReadExt;
        loop {
            if let Some(em) = self.ready.pop_front() {
                return Ok(Some(em));
            }
            if let Some(e) = &self.failed {
                return Err(e.clone());
            }
            if self.parser.finished() {
                return Ok(None);
            }
            if self.eof || self.buf.len() >= self.retry_at {
                // A last pass always ends the parser or fails; any other one either makes
                // progress or raises `retry_at` above what is pending.
                self.step();
                continue;
            }
            let mut limited = (&mut self.buf).limit(READ_CHUNK);
            let n = self
                .src
                .read_buf(&mut limited)
                .await
                .map_err(|e| PerfParseError::Truncated(format!("read failed: {e}")));
            match n {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) => {
                    // Hand out the entities complete before the failure, whatever the
                    // batching of passes held back; an error in those bytes comes first.
                    self.step();
                    if self.failed.is_none() {
                        self.failed = Some(e);
                        self.buf = Vec::new();
                        self.eof = true;
                    }
                }
            }
        }
    }

    /// Entities returned so far.
    pub fn entities(&self) -> usize {
        self.parser.entities()
    }

    /// Bytes consumed so far.
    pub fn bytes(&self) -> u64 {
        self.consumed + self.buf.len() as u64
    }
}
