//! QueryPerf: the request, and a streaming parser for the answer.
//!
//! A QueryPerf answer for a thousand VMs is tens of megabytes, so it is never held whole:
//! the body is read as a stream of XML events and every `returnval` (one entity) is handed on
//! as soon as it is complete. The parser is a plain state machine ([`PerfParser`]) fed with
//! quick-xml events, driven either by an async reader ([`PerfReader`], used on the HTTP body)
//! or by a byte slice ([`parse_perf_slice`], for tests and benchmarks).
//!
//! Both result formats are read by the same code: `normal` (`PerfEntityMetric`: one
//! `<sampleInfo>` per sample, one `<value>` per number) and `csv` (`PerfEntityMetricCSV`:
//! `sampleInfoCSV` = "interval,date,interval,date,...", values "v1,v2,..."). Numbers are parsed
//! from the raw bytes: no allocation per value.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use quick_xml::events::{BytesStart, Event};
use tokio::sync::mpsc::Sender;

use super::client::Client;
use super::error::Error;
use super::soap::MoRef;
use super::types::{EntityKind, EntityMetrics, MetricId, OpenSeries, PerfQuerySpec};
use super::xml;

mod stream;
pub use stream::{parse_perf_slice, PerfReader, MAX_TOKEN};

/// What one QueryPerf call delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Entities (returnvals) sent on the channel.
    pub entities: usize,
    /// Bytes of the response body.
    pub bytes: u64,
}

/// Why a QueryPerf answer could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PerfParseError {
    /// Not the XML we expect.
    Malformed(String),
    /// The document (or the connection) ended before the envelope was closed.
    Truncated(String),
    /// The body is a SOAP fault.
    Fault { fault: String, message: String },
}

impl std::fmt::Display for PerfParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PerfParseError::Malformed(d) => write!(f, "malformed: {d}"),
            PerfParseError::Truncated(d) => write!(f, "truncated: {d}"),
            PerfParseError::Fault { fault, message } => write!(f, "SOAP fault {fault}: {message}"),
        }
    }
}

impl std::error::Error for PerfParseError {}

/// Writes the QueryPerf request body (without the envelope).
///
/// Every spec of a kind shares one metric-id list (the same `Arc`), and most specs of a cycle
/// share their window, so both are written once and copied: a cycle's request bodies are
/// megabytes of mostly the same `<metricId>` elements. The lists are written first, so that
/// the body is sized once (it was grown by doubling, a copy of the body each time).
pub fn request_body(
    perf_manager_type: &str,
    perf_manager: &str,
    specs: &[PerfQuerySpec],
) -> String {
    let mut b = String::new();
    write_request_body(&mut b, perf_manager_type, perf_manager, specs);
    b
}

/// [`request_body`] written at the end of `b` (the call writes it into its envelope).
pub(crate) fn write_request_body(
    b: &mut String,
    perf_manager_type: &str,
    perf_manager: &str,
    specs: &[PerfQuerySpec],
) {
    let mut ids: Vec<(*const [MetricId], String)> = Vec::new();
    let mut size = 200;
    for s in specs {
        let key = Arc::as_ptr(&s.metric_ids);
        let i = match ids.iter().position(|(k, _)| std::ptr::addr_eq(*k, key)) {
            Some(i) => i,
            None => {
                ids.push((key, metric_ids_xml(&s.metric_ids)));
                ids.len() - 1
            }
        };
        // The spec's own elements: the entity, two times, maxSample, intervalId, format.
        size += ids[i].1.len() + s.moid.len() + 300;
    }
    b.reserve(size);
    b.push_str(r#"<QueryPerf xmlns="urn:vim25">"#);
    MoRef::new(perf_manager_type, perf_manager).write(b, "_this");
    let mut times = TimeCache::default();
    let mut num = itoa::Buffer::new();
    for s in specs {
        b.push_str("<querySpec>");
        MoRef::write_parts(b, "entity", s.kind.vim_type(), &s.moid);
        if let Some(t) = s.start {
            b.push_str("<startTime>");
            b.push_str(times.format(t));
            b.push_str("</startTime>");
        }
        if let Some(t) = s.end {
            b.push_str("<endTime>");
            b.push_str(times.format(t));
            b.push_str("</endTime>");
        }
        if s.max_sample > 0 {
            b.push_str("<maxSample>");
            b.push_str(num.format(s.max_sample));
            b.push_str("</maxSample>");
        }
        let key = Arc::as_ptr(&s.metric_ids);
        if let Some((_, xml)) = ids.iter().find(|(k, _)| std::ptr::addr_eq(*k, key)) {
            b.push_str(xml);
        }
        b.push_str("<intervalId>");
        b.push_str(num.format(s.interval_id));
        b.push_str("</intervalId><format>");
        b.push_str(s.format.as_str());
        b.push_str("</format></querySpec>");
    }
    b.push_str("</QueryPerf>");
}

/// The `<metricId>` elements of one list.
fn metric_ids_xml(ids: &[MetricId]) -> String {
    let mut b = String::with_capacity(ids.len() * 72);
    for m in ids {
        let _ = write!(
            b,
            "<metricId><counterId>{}</counterId><instance>{}</instance></metricId>",
            m.counter_id,
            xml::escape(&m.instance)
        );
    }
    b
}

/// The last time formatted, kept: a call's windows mostly share their start and end.
#[derive(Default)]
struct TimeCache {
    last: Vec<(i64, String)>,
}

impl TimeCache {
    fn format(&mut self, t: i64) -> &str {
        let i = match self.last.iter().position(|(k, _)| *k == t) {
            Some(i) => i,
            None => {
                if self.last.len() >= 4 {
                    self.last.remove(0);
                }
                self.last.push((t, format_time(t)));
                self.last.len() - 1
            }
        };
        &self.last[i].1
    }
}

/// Unix seconds → `xsd:dateTime` in UTC.
fn format_time(t: i64) -> String {
    match chrono::DateTime::from_timestamp(t, 0) {
        Some(d) => d.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => "1970-01-01T00:00:00Z".to_string(),
    }
}

/// `xsd:dateTime` (fractional seconds, `Z` or an offset) → unix seconds.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(t) = parse_time_utc_seconds(s.as_bytes()) {
        return Some(t);
    }
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp());
    }
    // No zone at all: vCenter means UTC.
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|d| d.and_utc().timestamp())
}

/// The form vCenter sends, `YYYY-MM-DDTHH:MM:SSZ`, without chrono's general parser (one per
/// sample and entity). Anything else (fractions, offsets, a leap second, an invalid date)
/// is `None`, left to [`parse_time`]'s general path.
fn parse_time_utc_seconds(b: &[u8]) -> Option<i64> {
    let b: &[u8; 20] = b.try_into().ok()?;
    let sep = |i: usize, c: u8| b[i] == c;
    if !(sep(4, b'-')
        && sep(7, b'-')
        && sep(10, b'T')
        && sep(13, b':')
        && sep(16, b':')
        && sep(19, b'Z'))
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0i64, |v, &c| {
            c.is_ascii_digit().then(|| v * 10 + i64::from(c - b'0'))
        })
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if d < 1 || d > month_days || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Parses a signed decimal integer from bytes (surrounding whitespace allowed).
#[inline]
pub(crate) fn parse_i64(b: &[u8]) -> Option<i64> {
    let b = b.trim_ascii();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 18 {
        // 19 digits may overflow: take the slow, checked path.
        return std::str::from_utf8(b).ok()?.parse().ok();
    }
    let mut v: i64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as i64;
    }
    Some(if neg { -v } else { v })
}

/// Where the parser is in the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    Envelope,
    Header,
    Body,
    Response,
    ReturnVal,
    Entity,
    SampleInfo,
    Timestamp,
    SampleInfoCsv,
    Series,
    Id,
    CounterId,
    Instance,
    SeriesValue,
    Fault,
    FaultString,
    Detail,
    Other,
}

impl Tag {
    fn name(self) -> &'static str {
        match self {
            Tag::Envelope => "Envelope",
            Tag::Header => "Header",
            Tag::Body => "Body",
            Tag::Response => "QueryPerfResponse",
            Tag::ReturnVal => "returnval",
            Tag::Entity => "entity",
            Tag::SampleInfo => "sampleInfo",
            Tag::Timestamp => "timestamp",
            Tag::SampleInfoCsv => "sampleInfoCSV",
            Tag::Series => "value",
            Tag::Id => "id",
            Tag::CounterId => "counterId",
            Tag::Instance => "instance",
            Tag::SeriesValue => "value",
            Tag::Fault => "Fault",
            Tag::FaultString => "faultstring",
            Tag::Detail => "detail",
            Tag::Other => "element",
        }
    }
}

fn local_name(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

/// FNV-1a of an element's local name.
fn name_hash(name: &[u8]) -> u64 {
    name.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The QueryPerf state machine: feed it events with [`PerfParser::handle`]; it returns each
/// entity when its `returnval` closes.
#[derive(Debug, Default)]
pub struct PerfParser {
    stack: Vec<Tag>,
    /// A hash of each open element's local name, to check end tags match (the streaming
    /// reader parses chunk by chunk, so quick-xml cannot check across chunks).
    names: Vec<u64>,
    cur: Option<EntityMetrics>,
    /// The series being read, built in place in `cur`'s buffers.
    series: Option<OpenSeries>,
    fault: Option<(String, String)>,
    done: bool,
    eof: bool,
    entities: usize,
    /// The series, values and instance bytes of the last entity: the next one's buffers are
    /// sized for as many (the entities of one call are of one kind and report alike), not
    /// grown by doubling.
    last_size: (usize, usize, usize),
}

/// The deepest element nesting accepted. A QueryPerf answer is 7 deep, a fault's detail a
/// few more; the parser keeps its own stack, so this only keeps hostile input small.
pub const MAX_DEPTH: usize = 64;

/// The most values one entity may hold (8 bytes each: 128 MiB). An hour of realtime samples
/// of a host with every instance expanded is a few hundred thousand.
pub const MAX_ENTITY_VALUES: usize = 16 << 20;

/// The most instance bytes one entity may hold, all its series together (a host with every
/// instance expanded has a few thousand series of instances of tens of bytes).
pub const MAX_ENTITY_INSTANCE_BYTES: usize = 64 << 20;

impl PerfParser {
    pub fn new() -> Self {
        PerfParser::default()
    }

    /// Entities returned so far.
    pub fn entities(&self) -> usize {
        self.entities
    }

    /// The end of input was reached (after a complete document).
    pub fn finished(&self) -> bool {
        self.eof
    }

    fn malformed(&self, what: impl std::fmt::Display) -> PerfParseError {
        PerfParseError::Malformed(format!("{what} (in <{}>)", self.path()))
    }

    fn path(&self) -> String {
        self.stack
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Handles one event; returns a completed entity when a `returnval` closes.
    pub fn handle(&mut self, ev: Event<'_>) -> Result<Option<EntityMetrics>, PerfParseError> {
        match ev {
            Event::Start(e) => {
                self.start(&e)?;
                Ok(None)
            }
            Event::Empty(e) => {
                self.start(&e)?;
                self.end()
            }
            Event::End(e) => {
                let qname = e.name();
                let name = local_name(qname.as_ref());
                if self.names.last() != Some(&name_hash(name)) {
                    return Err(self.malformed(format!(
                        "end tag </{}> does not match the open element",
                        String::from_utf8_lossy(name)
                    )));
                }
                self.end()
            }
            Event::Text(t) => {
                self.text(&t)?;
                Ok(None)
            }
            Event::CData(t) => {
                self.text(&t)?;
                Ok(None)
            }
            Event::Eof => {
                if !self.done {
                    return Err(PerfParseError::Truncated(match self.stack.last() {
                        Some(_) => format!("document ended inside <{}>", self.path()),
                        None => "empty response".to_string(),
                    }));
                }
                self.eof = true;
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    fn start(&mut self, e: &BytesStart<'_>) -> Result<(), PerfParseError> {
        let qname = e.name();
        self.open(local_name(qname.as_ref()), Some(e))
    }

    /// Opens an element by its local name; `e` is the start tag when it may have attributes
    /// (`None` for a bare `<name>`).
    fn open(&mut self, name: &[u8], e: Option<&BytesStart<'_>>) -> Result<(), PerfParseError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.malformed(format!("elements nested deeper than {MAX_DEPTH}")));
        }
        let parent = self.stack.last().copied();
        let tag = match (parent, name) {
            (None, b"Envelope") if !self.done => Tag::Envelope,
            (None, _) => {
                return Err(self.malformed(format!(
                    "expected a SOAP Envelope, found <{}>",
                    String::from_utf8_lossy(name)
                )))
            }
            (Some(Tag::Envelope), b"Body") => Tag::Body,
            (Some(Tag::Envelope), _) => Tag::Header,
            (Some(Tag::Body), b"Fault") => {
                self.fault = Some((String::new(), String::new()));
                Tag::Fault
            }
            (Some(Tag::Body), _) => Tag::Response,
            (Some(Tag::Response), b"returnval") => {
                let (series, values, instances) = self.last_size;
                self.cur = Some(EntityMetrics::with_capacity(series, values, instances));
                self.series = None;
                Tag::ReturnVal
            }
            (Some(Tag::ReturnVal), b"entity") => {
                let kind = e
                    .and_then(|e| attr(e, b"type"))
                    .and_then(|t| EntityKind::from_vim_type(&t));
                if let Some(cur) = self.cur.as_mut() {
                    cur.kind = kind;
                }
                Tag::Entity
            }
            (Some(Tag::ReturnVal), b"sampleInfo") => Tag::SampleInfo,
            (Some(Tag::SampleInfo), b"timestamp") => Tag::Timestamp,
            (Some(Tag::ReturnVal), b"sampleInfoCSV") => Tag::SampleInfoCsv,
            (Some(Tag::ReturnVal), b"value") => {
                self.series = self.cur.as_ref().map(EntityMetrics::open_series);
                Tag::Series
            }
            (Some(Tag::Series), b"id") => Tag::Id,
            (Some(Tag::Id), b"counterId") => Tag::CounterId,
            (Some(Tag::Id), b"instance") => Tag::Instance,
            (Some(Tag::Series), b"value") => Tag::SeriesValue,
            (Some(Tag::Fault), b"faultstring") => Tag::FaultString,
            (Some(Tag::Fault), b"detail") => Tag::Detail,
            (Some(Tag::Detail), n) => {
                if let Some(f) = self.fault.as_mut() {
                    if f.0.is_empty() {
                        f.0 = match e.and_then(|e| attr_suffix(e, b":type")) {
                            Some(t) => t.rsplit(':').next().unwrap_or_default().to_string(),
                            None => {
                                let n = String::from_utf8_lossy(n);
                                n.strip_suffix("Fault").unwrap_or(&n).to_string()
                            }
                        };
                    }
                }
                Tag::Other
            }
            _ => Tag::Other,
        };
        self.stack.push(tag);
        self.names.push(name_hash(name));
        Ok(())
    }

    fn text(&mut self, t: &[u8]) -> Result<(), PerfParseError> {
        let Some(&top) = self.stack.last() else {
            // Whitespace around the envelope is fine; a page of text is not a SOAP answer.
            if !t.trim_ascii().is_empty() {
                return Err(self.malformed("text outside the SOAP Envelope"));
            }
            return Ok(());
        };
        match top {
            Tag::SeriesValue => {
                let (Some(_), Some(c)) = (self.series.as_ref(), self.cur.as_mut()) else {
                    return Ok(());
                };
                let t = t.trim_ascii();
                if t.is_empty() {
                    return Ok(());
                }
                // `normal` has one number per element, `csv` a comma-separated list; an
                // empty CSV field means "no data", like -1.
                for field in t.split(|&b| b == b',') {
                    let v = if field.trim_ascii().is_empty() {
                        -1
                    } else {
                        match parse_i64(field) {
                            Some(v) => v,
                            None => {
                                let bad = String::from_utf8_lossy(field).into_owned();
                                return Err(self.malformed(format!("bad value {bad:?}")));
                            }
                        }
                    };
                    c.push_value(v);
                }
            }
            Tag::Timestamp => {
                let s = std::str::from_utf8(t).unwrap_or_default();
                let ts =
                    parse_time(s).ok_or_else(|| self.malformed(format!("bad timestamp {s:?}")))?;
                if let Some(c) = self.cur.as_mut() {
                    c.timestamps.push(ts);
                }
            }
            Tag::SampleInfoCsv => {
                let s = std::str::from_utf8(t).unwrap_or_default().trim();
                let mut ts = Vec::new();
                if !s.is_empty() {
                    let fields: Vec<&str> = s.split(',').collect();
                    if fields.len() % 2 != 0 {
                        return Err(self.malformed(format!("odd sampleInfoCSV {s:?}")));
                    }
                    for pair in fields.chunks(2) {
                        ts.push(parse_time(pair[1]).ok_or_else(|| {
                            self.malformed(format!("bad sampleInfoCSV date {:?}", pair[1]))
                        })?);
                    }
                }
                if let Some(c) = self.cur.as_mut() {
                    c.timestamps.extend(ts);
                }
            }
            Tag::CounterId => {
                let v = parse_i64(t)
                    .and_then(|v| i32::try_from(v).ok())
                    .ok_or_else(|| self.malformed("bad counterId"))?;
                if let Some(s) = self.series.as_mut() {
                    s.counter_id = v;
                }
            }
            Tag::Instance => {
                let s = unescape(t).map_err(|e| self.malformed(e))?;
                if let (Some(_), Some(c)) = (self.series.as_ref(), self.cur.as_mut()) {
                    if c.instance_bytes() + s.len() > MAX_ENTITY_INSTANCE_BYTES {
                        let msg = format!(
                            "entity {} has more than {MAX_ENTITY_INSTANCE_BYTES} bytes of instances",
                            c.moid
                        );
                        return Err(self.malformed(msg));
                    }
                    c.push_instance(&s);
                }
            }
            Tag::Entity => {
                let s = unescape(t).map_err(|e| self.malformed(e))?;
                if let Some(c) = self.cur.as_mut() {
                    c.moid.push_str(s.trim());
                }
            }
            Tag::FaultString => {
                let s = unescape(t).map_err(|e| self.malformed(e))?;
                if let Some(f) = self.fault.as_mut() {
                    f.1.push_str(&s);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Takes the run of simple leaf elements (`<name>text</name>`: no attributes, no markup
    /// inside) at the start of `input` without going through quick-xml, when the parser is
    /// inside an entity, where they are nearly all of the document (`<value>`, `<timestamp>`,
    /// `<counterId>` …). The parser sees exactly the start, text and end it would have seen
    /// from the events; anything else stops the run. Returns the bytes taken.
    fn leaf_run(&mut self, input: &[u8]) -> Result<usize, PerfParseError> {
        let mut pos = 0;
        while matches!(
            self.stack.last(),
            Some(Tag::ReturnVal | Tag::SampleInfo | Tag::Series | Tag::Id)
        ) {
            match self.stack.last() {
                Some(Tag::ReturnVal) => pos += self.series_run(&input[pos..]),
                Some(Tag::Series) => pos += self.value_run(&input[pos..]),
                _ => {}
            }
            if let Some((name, text, len)) = simple_leaf(&input[pos..]) {
                self.open(local_name(name), None)?;
                if !text.is_empty() {
                    self.text(text)?;
                }
                // No leaf under these parents closes a returnval: nothing to hand out.
                self.end()?;
                pos += len;
                continue;
            }
            // The series' own `<value>`, `<id>` and their end tags, bare as vCenter writes
            // them. A returnval's end (which hands the entity out), a tag with attributes
            // or a mismatched end tag goes to quick-xml and the general path.
            match bare_tag(&input[pos..]) {
                Some((true, name, len))
                    if self.stack.last() != Some(&Tag::ReturnVal)
                        && self.names.last() == Some(&name_hash(local_name(name))) =>
                {
                    self.end()?;
                    pos += len;
                }
                Some((false, name, len)) => {
                    self.open(local_name(name), None)?;
                    pos += len;
                }
                // A series' start tag carries its `xsi:type`, which nothing reads: taken
                // here too, or every series of a steady-state answer (one sample each)
                // would cost a quick-xml event.
                None if self.stack.last() == Some(&Tag::ReturnVal) => {
                    match start_tag_with_attributes(&input[pos..]) {
                        Some((name, len)) if local_name(name) == b"value" => {
                            self.open(b"value", None)?;
                            pos += len;
                        }
                        _ => break,
                    }
                }
                _ => break,
            }
        }
        Ok(pos)
    }

    /// A whole series at once, where a returnval's series follow one another in the shape
    /// vCenter writes them: `<value xsi:type="…"><id><counterId>N</counterId><instance>I
    /// </instance></id><value>V</value>…</value>` (one `<value>` per sample in `normal`, one
    /// comma-separated list in `csv`), built straight into the entity's buffers: no parser
    /// stack, no name hashes, no per-element dispatch. A steady-state answer is nearly all
    /// such series of one sample each. It takes a series only in a form the general path
    /// reads the same way: anything else (an escaped instance, a namespace prefix,
    /// whitespace, a number it would not take, more values than timestamps, a series cut off
    /// by the end of `input`) is left to the general path from that series' start, which
    /// reads it (or reports its error) as before. Returns the bytes taken.
    fn series_run(&mut self, input: &[u8]) -> usize {
        let (Some(c), None) = (self.cur.as_mut(), self.series) else {
            return 0;
        };
        let mut pos = 0;
        while let Some(len) = one_series(c, &input[pos..]) {
            pos += len;
        }
        pos
    }

    /// The hottest case of [`Self::leaf_run`]: `<value>N</value>` elements of a `normal`
    /// series, each one plain integer. Stops (for the general path to take over, or to
    /// report the error) at anything else. Returns the bytes taken.
    #[inline]
    fn value_run(&mut self, input: &[u8]) -> usize {
        const OPEN: &[u8] = b"<value>";
        const CLOSE: &[u8] = b"</value>";
        let (Some(_), Some(c)) = (self.series.as_ref(), self.cur.as_mut()) else {
            return 0;
        };
        let mut pos = 0;
        while let Some(rest) = input[pos..].strip_prefix(OPEN) {
            let Some(len) = rest.iter().take(20).position(|&b| b == b'<') else {
                break;
            };
            if !rest[len..].starts_with(CLOSE) {
                break;
            }
            let text = &rest[..len];
            let digits = text.strip_prefix(b"-").unwrap_or(text);
            if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
                break;
            }
            let v = digits
                .iter()
                .fold(0i64, |v, &d| v * 10 + i64::from(d - b'0'));
            c.push_value(if digits.len() < text.len() { -v } else { v });
            pos += OPEN.len() + len + CLOSE.len();
        }
        pos
    }

    fn end(&mut self) -> Result<Option<EntityMetrics>, PerfParseError> {
        self.names.pop();
        let Some(tag) = self.stack.pop() else {
            return Err(self.malformed("unbalanced end tag"));
        };
        match tag {
            Tag::Series => {
                if let (Some(s), Some(c)) = (self.series.take(), self.cur.as_mut()) {
                    let n = c.timestamps.len();
                    let got = c.open_values(&s).len();
                    if got > n {
                        let msg = format!(
                            "entity {} counter {} instance {:?}: {got} values for {n} timestamps",
                            c.moid,
                            s.counter_id,
                            c.open_instance(&s),
                        );
                        return Err(self.malformed(msg));
                    }
                    if c.all_values().len() > MAX_ENTITY_VALUES {
                        let msg =
                            format!("entity {} has more than {MAX_ENTITY_VALUES} values", c.moid);
                        return Err(self.malformed(msg));
                    }
                    // A series with no values (the simulator sends those for counters it
                    // has no data for) carries nothing: drop it. A short one is kept as
                    // sent: values[i] belongs to timestamps[i], the missing tail is "no
                    // data". It is never padded (a few bytes of answer must not become
                    // megabytes of -1).
                    if got == 0 {
                        c.drop_series(s);
                    } else {
                        c.close_series(s);
                    }
                }
            }
            Tag::ReturnVal => {
                self.series = None;
                if let Some(mut c) = self.cur.take() {
                    c.shrink_spare();
                    self.last_size = (c.series_len(), c.all_values().len(), c.instance_bytes());
                    if c.moid.is_empty() {
                        return Err(self.malformed("returnval without entity"));
                    }
                    self.entities += 1;
                    return Ok(Some(c));
                }
            }
            Tag::Fault => {
                let (fault, message) = self.fault.take().unwrap_or_default();
                return Err(PerfParseError::Fault {
                    fault: if fault.is_empty() {
                        "UnknownFault".into()
                    } else {
                        fault
                    },
                    message: if message.trim().is_empty() {
                        "(no faultstring)".into()
                    } else {
                        message.trim().to_string()
                    },
                });
            }
            Tag::Envelope => self.done = true,
            _ => {}
        }
        Ok(None)
    }
}

fn unescape(t: &[u8]) -> Result<std::borrow::Cow<'_, str>, String> {
    let s = std::str::from_utf8(t).map_err(|e| e.to_string())?;
    quick_xml::escape::unescape(s).map_err(|e| e.to_string())
}

fn attr(e: &BytesStart<'_>, key: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == key)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

fn attr_suffix(e: &BytesStart<'_>, suffix: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref().ends_with(suffix))
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// A byte of an element name the leaf fast path accepts (ASCII names only).
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':')
}

/// `<name>text</name>` at the start of `b` (text without markup, the end tag spelled exactly
/// like the start tag): the name, the raw text and the length of the element.
#[inline]
/// A start tag without attributes (`<name>`) or an end tag (`</name>`) at the start of `b`:
/// whether it is an end tag, the name, and the bytes it takes. `None` for anything else,
/// including a tag cut off by the end of `b`.
fn bare_tag(b: &[u8]) -> Option<(bool, &[u8], usize)> {
    let end = b.first() == Some(&b'<') && b.get(1) == Some(&b'/');
    let from = if end { 2 } else { 1 };
    let len = b
        .get(from..)?
        .iter()
        .take(65)
        .position(|&c| !is_name_byte(c))?;
    let close = from + len;
    if len == 0 || len > 64 || b.first() != Some(&b'<') || b[close] != b'>' {
        return None;
    }
    Some((end, &b[from..close], close + 1))
}

/// A start tag with attributes (`<name key="v" ...>`, not self-closing) at the start of `b`:
/// its name and the bytes it takes. The end is the first `>` outside a quoted value, as an
/// XML reader finds it; `None` for anything else, including a tag cut off by the end of `b`
/// or longer than 256 bytes (those go to quick-xml).
fn start_tag_with_attributes(b: &[u8]) -> Option<(&[u8], usize)> {
    if b.first() != Some(&b'<') {
        return None;
    }
    let name_len = b
        .get(1..)?
        .iter()
        .take(65)
        .position(|&c| !is_name_byte(c))?;
    if name_len == 0 || name_len > 64 || !b[1 + name_len].is_ascii_whitespace() {
        return None;
    }
    let mut quote = None;
    for (i, &c) in b.iter().enumerate().take(256).skip(1 + name_len) {
        match (quote, c) {
            (None, b'"' | b'\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, b'>') if b[i - 1] == b'/' => return None,
            (None, b'>') => return Some((&b[1..1 + name_len], i + 1)),
            (None, b'<') => return None,
            _ => {}
        }
    }
    None
}

fn simple_leaf(b: &[u8]) -> Option<(&[u8], &[u8], usize)> {
    if b.first() != Some(&b'<') {
        return None;
    }
    let name_end = 1 + b
        .get(1..)?
        .iter()
        .take(65)
        .position(|&c| !is_name_byte(c))?;
    if name_end == 1 || b[name_end] != b'>' {
        return None;
    }
    let name = &b[1..name_end];
    if name.len() > 64 {
        return None;
    }
    let text_start = name_end + 1;
    // Long texts go through quick-xml, which checks the token limit.
    let window = &b[text_start..b.len().min(text_start + 4096)];
    let lt = text_start + memchr::memchr(b'<', window)?;
    let close = b.get(lt..lt + name.len() + 3)?;
    if close[1] != b'/' || &close[2..2 + name.len()] != name || close[2 + name.len()] != b'>' {
        return None;
    }
    Some((name, &b[text_start..lt], lt + name.len() + 3))
}

/// A cursor for the series fast path: each step matches at the position or fails.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Takes `p` when the bytes at the position are `p`.
    #[inline]
    fn lit(&mut self, p: &[u8]) -> Option<()> {
        let hit = self.b.get(self.pos..)?.starts_with(p);
        hit.then(|| self.pos += p.len())
    }

    /// Takes the text up to the next `<` (which must come within `max` bytes).
    #[inline]
    fn text(&mut self, max: usize) -> Option<&'a [u8]> {
        let rest = self.b.get(self.pos..)?;
        let end = memchr::memchr(b'<', &rest[..rest.len().min(max)])?;
        self.pos += end;
        Some(&rest[..end])
    }
}

/// `-?[0-9]{1,max}` exactly: the number, or `None` for anything else.
#[inline]
fn strict_int(t: &[u8], max: usize) -> Option<i64> {
    let digits = t.strip_prefix(b"-").unwrap_or(t);
    if digits.is_empty() || digits.len() > max || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits
        .iter()
        .fold(0i64, |v, &d| v * 10 + i64::from(d - b'0'));
    Some(if digits.len() < t.len() { -v } else { v })
}

/// The values of one `<value>` text as the general path reads them (a number, or a
/// comma-separated list where an empty field is -1), when it holds nothing but digits, minus
/// signs and commas; `None` (some values possibly pushed) for anything else.
#[inline]
fn push_fields(c: &mut EntityMetrics, t: &[u8]) -> Option<()> {
    if t.is_empty() {
        return Some(());
    }
    for f in t.split(|&b| b == b',') {
        c.push_value(if f.is_empty() { -1 } else { strict_int(f, 18)? });
    }
    Some(())
}

/// One series at the start of `b` in the shape [`PerfParser::series_run`] takes, added to `c`
/// (or, with no values, dropped as the general path drops it): the bytes it took, or `None`
/// with `c` unchanged when the general path must read it.
fn one_series(c: &mut EntityMetrics, b: &[u8]) -> Option<usize> {
    let start = match bare_tag(b) {
        Some((false, b"value", len)) => len,
        Some(_) => return None,
        None => match start_tag_with_attributes(b)? {
            (b"value", len) => len,
            _ => return None,
        },
    };
    let mut cur = Cursor { b, pos: start };
    cur.lit(b"<id><counterId>")?;
    let counter_id = i32::try_from(strict_int(cur.text(16)?, 9)?).ok()?;
    cur.lit(b"</counterId>")?;
    let instance: &[u8] = match cur.lit(b"<instance/>") {
        Some(()) => b"",
        None => {
            cur.lit(b"<instance>")?;
            let t = cur.text(1024)?;
            cur.lit(b"</instance>")?;
            t
        }
    };
    cur.lit(b"</id>")?;
    if memchr::memchr(b'&', instance).is_some() {
        return None;
    }
    let instance = std::str::from_utf8(instance).ok()?;
    let mut open = c.open_series();
    open.counter_id = counter_id;
    let mut values = || -> Option<()> {
        while cur.lit(b"<value>").is_some() {
            push_fields(c, cur.text(4096)?)?;
            cur.lit(b"</value>")?;
        }
        cur.lit(b"</value>")
    };
    let read = values();
    let n = c.open_values(&open).len();
    if read.is_none()
        || n > c.timestamps.len()
        || c.all_values().len() > MAX_ENTITY_VALUES
        || c.instance_bytes() + instance.len() > MAX_ENTITY_INSTANCE_BYTES
    {
        c.drop_series(open);
        return None;
    }
    if n == 0 {
        c.drop_series(open);
    } else {
        c.push_instance(instance);
        c.close_series(open);
    }
    Some(cur.pos)
}

impl Client {
    /// Runs one QueryPerf call and sends every entity on `tx` as soon as it is parsed (the
    /// bounded channel is the backpressure: the body is read only as fast as it is consumed).
    /// Every sample vCenter sent is passed on (the collector's encoder alone drops those at
    /// or before a window's start: the simulator sends them, vCenter does not). A response
    /// cut off midway is an error that says how many entities were already sent.
    pub async fn query_perf(
        &self,
        specs: &[PerfQuerySpec],
        tx: &Sender<EntityMetrics>,
    ) -> Result<QueryStats, Error> {
        use futures::TryStreamExt;
        const METHOD: &str = "QueryPerf";
        if specs.is_empty() {
            return Ok(QueryStats::default());
        }
        let started = Instant::now();
        let resp = self
            .send(METHOD, |sc| {
                // Written into the envelope: no copy of a body of a few hundred kilobytes.
                let mut e = super::soap::Envelope::with_capacity(0);
                let pm = &sc.perf_manager;
                write_request_body(e.body(), &pm.ty, &pm.value, specs);
                e
            })
            .await?;
        let stream = resp
            .bytes_stream()
            .map_err(|e| std::io::Error::other(super::soap::error_chain(&e)));
        let mut reader = PerfReader::new(tokio_util::io::StreamReader::new(stream));
        let mut stats = QueryStats::default();
        let t = &self.inner.transport;
        loop {
            match reader.next().await {
                Ok(Some(em)) => {
                    stats.entities += 1;
                    if tx.send(em).await.is_err() {
                        return Err(Error::ReceiverClosed {
                            vcenter: t.name.clone(),
                            method: METHOD,
                        });
                    }
                }
                Ok(None) => break,
                Err(PerfParseError::Fault { fault, message }) => {
                    let object = super::soap::object_in_message(&message);
                    let info = super::soap::FaultInfo {
                        fault,
                        message,
                        object,
                    };
                    return Err(t.fault(METHOD, info));
                }
                Err(PerfParseError::Truncated(detail)) => {
                    return Err(Error::Truncated {
                        vcenter: t.name.clone(),
                        method: METHOD,
                        entities: stats.entities,
                        detail,
                    })
                }
                Err(PerfParseError::Malformed(detail)) => {
                    return Err(t.malformed(
                        METHOD,
                        format!("{detail} (after {} entities had been sent)", stats.entities),
                    ))
                }
            }
        }
        stats.bytes = reader.bytes();
        tracing::debug!(
            vcenter = %t.name,
            method = METHOD,
            specs = specs.len(),
            entities = stats.entities,
            bytes = stats.bytes,
            duration_ms = started.elapsed().as_millis() as u64,
            "QueryPerf done"
        );
        Ok(stats)
    }
}

#[cfg(test)]
mod tests;
