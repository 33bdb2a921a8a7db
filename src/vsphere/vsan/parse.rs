//! vSAN answers to values. Everything here comes from the network: nothing panics, every
//! list is bounded, and what cannot be read is a [`VsanParseError`] naming the cause.

use std::borrow::Cow;

use super::super::xml::Node;
use super::{Cmmds, CmmdsEntry, VsanEntityMetrics, VsanResync, VsanSeries, VsanSpace};

/// The most sample timestamps one entity may carry in one answer: a day at vSAN 8's 30-s
/// interval is 2,880, a week at the default 5 min 2,016. The collector asks far less.
pub const MAX_SAMPLES: usize = 20_000;

/// The most metrics (labels) one entity may carry; vSAN's richest types have about 60.
pub const MAX_LABELS: usize = 1_000;

/// The most CMMDS entries read: a 64-host cluster with 40 disks a host has some 2,700.
pub const MAX_CMMDS: usize = 200_000;

/// Why a vSAN answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VsanParseError {
    #[error("an entity without entityRefId")]
    NoEntityRef,
    #[error("entity {entity}: more than {max} samples", max = MAX_SAMPLES)]
    TooManySamples { entity: String },
    #[error("entity {entity}: more than {max} metrics", max = MAX_LABELS)]
    TooManyLabels { entity: String },
    #[error("entity {entity}: a metric without a label")]
    NoLabel { entity: String },
    #[error("{what}: {value:?} is not an integer")]
    NotAnInteger { what: &'static str, value: String },
    #[error("the CMMDS answer is not the expected JSON: {0}")]
    Cmmds(String),
    #[error("more than {max} CMMDS entries", max = MAX_CMMDS)]
    TooManyCmmds,
    #[error("an entity that is not XML: {0}")]
    Xml(String),
}

/// A `sampleInfo` timestamp, `2006-01-02 15:04:05` in UTC, as unix seconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

/// A CSV value as Telegraf reads it (`strconv.ParseFloat(v, 32)`: the nearest `f32`, widened),
/// `None` for what is not a finite number (line protocol cannot carry NaN or infinities).
fn parse_value(s: &str) -> Option<f64> {
    s.trim()
        .parse::<f32>()
        .ok()
        .filter(|v| v.is_finite())
        .map(f64::from)
}

/// One `VsanPerfEntityMetricCSV` (a `returnval` of `VsanPerfQueryPerf`) from the tree.
pub(crate) fn parse_perf_entity(n: &Node) -> Result<VsanEntityMetrics, VsanParseError> {
    let mut out = VsanEntityMetrics::default();
    tree_entity(n, &mut out, &mut Stamps::default())?;
    Ok(out)
}

fn tree_entity(
    n: &Node,
    out: &mut VsanEntityMetrics,
    stamps: &mut Stamps,
) -> Result<(), VsanParseError> {
    let values = n
        .children_named("value")
        .map(|v| (v.text_at(&["metricId", "label"]), v.text_at(&["values"])));
    fill(
        out,
        stamps,
        n.text_at(&["entityRefId"]),
        n.text_at(&["sampleInfo"]),
        values,
    )
}

/// The same from the entity's bytes (as [`crate::vsphere::scan::Cutter`] cuts them), alone:
/// see [`EntityReader`].
#[cfg(test)]
fn parse_perf_entity_bytes(doc: &[u8]) -> Result<VsanEntityMetrics, VsanParseError> {
    EntityReader::default().read(doc).cloned()
}

/// Reads the entities of an answer from their bytes, one after the other into the same
/// buffers, without a tree. An answer holds thousands of entities of a few shapes (every
/// entity of a type has the same labels and the same `sampleInfo`), and allocating each
/// one's strings and vectors anew, and parsing the same timestamps again, was a good part
/// of what reading them cost (docs/benchmarks.md, "vSAN at its defaults").
///
/// What the tokenizer does not read (a comment, CDATA, an unknown entity reference) goes
/// to the tree parser and [`parse_perf_entity`]'s reading, which reads every answer the
/// same way (tests and the `vsan` fuzz target compare the two, through one reader).
#[derive(Default)]
pub(crate) struct EntityReader {
    /// The entity last read: its strings and vectors are reused by the next.
    entity: VsanEntityMetrics,
    stamps: Stamps,
}

impl EntityReader {
    /// The entity in `doc`, valid until the next read.
    pub fn read(&mut self, doc: &[u8]) -> Result<&VsanEntityMetrics, VsanParseError> {
        let out = &mut self.entity;
        match scan_entity(doc) {
            Some(t) => {
                let values = t
                    .values
                    .iter()
                    .map(|v| (v.label.as_deref(), v.csv.as_deref()));
                fill(
                    out,
                    &mut self.stamps,
                    t.entity.as_deref(),
                    t.info.as_deref(),
                    values,
                )?;
            }
            None => {
                let n = crate::vsphere::xml::parse(doc).map_err(VsanParseError::Xml)?;
                tree_entity(&n, out, &mut self.stamps)?;
            }
        }
        Ok(&self.entity)
    }
}

/// Whether `reader` reads the entity in `doc` as the tree parser does, where the tree
/// parser reads it as XML (for the `vsan` fuzz target and the tests): the same entity or
/// the same error. The reader is the caller's, so that what it keeps from one entity to the
/// next (its buffers, the last `sampleInfo`) is checked too.
pub(crate) fn scan_agrees(reader: &mut EntityReader, doc: &[u8]) -> bool {
    let read = reader.read(doc).cloned();
    match crate::vsphere::xml::parse(doc) {
        Ok(n) => parse_perf_entity(&n) == read,
        Err(_) => true, // not XML to the tree: the tokenizer may or may not see that
    }
}

/// The last `sampleInfo` parsed and its timestamps: every entity of a type carries the same,
/// so it is parsed once per type and answer, not once per entity.
#[derive(Default)]
struct Stamps {
    info: String,
    /// `info`'s timestamps ("" has none).
    stamps: Vec<Option<i64>>,
}

impl Stamps {
    /// `info`'s timestamps into `out`; `Err` for more than [`MAX_SAMPLES`].
    fn read(&mut self, info: &str, out: &mut Vec<Option<i64>>) -> Result<(), ()> {
        if info != self.info {
            self.info.clear();
            self.stamps.clear();
            if !info.is_empty() {
                for t in info.split(',') {
                    if self.stamps.len() == MAX_SAMPLES {
                        self.stamps.clear(); // back to the timestamps of "": none
                        return Err(());
                    }
                    self.stamps.push(parse_timestamp(t));
                }
            }
            self.info.push_str(info);
        }
        out.clear();
        out.extend_from_slice(&self.stamps);
        Ok(())
    }
}

/// The texts of one entity's elements, each the first of its name (as [`Node::child`]
/// picks), borrowed from the entity's bytes where they hold no reference to resolve.
#[derive(Default)]
struct Texts<'a> {
    entity: Option<Cow<'a, str>>,
    info: Option<Cow<'a, str>>,
    values: Vec<ValueTexts<'a>>,
}

/// One `value`: its first `metricId`'s first `label`, its first `values`.
#[derive(Default)]
struct ValueTexts<'a> {
    label: Option<Cow<'a, str>>,
    csv: Option<Cow<'a, str>>,
    metric_ids: usize,
}

/// The deepest element the tokenizer reads: deeper ones go to the tree parser.
const SCAN_DEPTH: usize = 16;

/// The tokenizer's reading of an entity; `None` for what it leaves to the tree parser.
/// Most of an entity is leaves (`<label>iopsRead</label>`, four more per metric, the CSV
/// values), read by [`scan::leaf`] in one step each.
fn scan_entity<'a>(doc: &'a [u8]) -> Option<Texts<'a>> {
    use crate::vsphere::scan::{leaf, next, Tok};
    let mut t = Texts::default();
    // The open elements, the entity's own first; `open` whether each is the one whose text
    // is read (the first of its name).
    let mut path: Vec<&[u8]> = Vec::new();
    let mut open: Vec<bool> = Vec::new();
    let mut pos = 0;
    let mut closed = false;
    while !closed {
        if path.len() == 1 && doc[pos..].starts_with(b"<value") {
            if let Some(ValueRun { label, csv, end }) = value_run(doc, pos) {
                let label = match label {
                    Some(raw) => Some(unescape(raw)?),
                    None => None,
                };
                t.values.push(ValueTexts {
                    label,
                    csv: Some(unescape(csv)?),
                    metric_ids: 1,
                });
                pos = end;
                continue;
            }
        }
        if let Some((name, text, end)) = leaf(doc, pos) {
            pos = end;
            path.push(name);
            if path.len() > SCAN_DEPTH {
                return None;
            }
            if t.start(&path[1..]) && !text.is_empty() {
                t.append(&path[1..], text)?;
            }
            path.pop();
            closed = path.is_empty();
            continue;
        }
        let Some((tok, end)) = next(doc, pos) else {
            break;
        };
        pos = end;
        match tok {
            Tok::Start(name) | Tok::Empty(name) => {
                let empty = matches!(tok, Tok::Empty(_));
                path.push(name);
                if path.len() > SCAN_DEPTH {
                    return None;
                }
                let read = t.start(&path[1..]);
                if empty {
                    path.pop();
                    closed = path.is_empty();
                } else {
                    open.push(read);
                }
            }
            Tok::End(name) => {
                if path.pop()? != name {
                    return None;
                }
                open.pop();
                closed = path.is_empty();
            }
            Tok::Text(raw) => {
                if path.is_empty() {
                    return None;
                }
                if open.last() == Some(&true) {
                    t.append(&path[1..], raw)?;
                }
            }
            Tok::Other => return None,
        }
    }
    // Cut short, or bytes after the entity: the tree parser says what they are.
    (closed && pos == doc.len()).then_some(t)
}

/// What [`value_run`] reads of a `value`: its first label's and its values' raw texts, and
/// where the next token starts.
struct ValueRun<'a> {
    label: Option<&'a [u8]>,
    csv: &'a [u8],
    end: usize,
}

/// A `value` of the regular shape, `<value …><metricId>` then leaves (`label` among them)
/// `</metricId><values>…</values></value>`, in one step: its first label's and its values'
/// raw texts, and where the next token starts. What [`scan_entity`]'s general loop reads of
/// it, without the path it keeps for every token; `None` for any other shape (a second
/// `metricId`, an element inside a leaf, whitespace between tags …), which the loop then
/// reads.
fn value_run(doc: &[u8], pos: usize) -> Option<ValueRun<'_>> {
    use crate::vsphere::scan::{leaf, next, Tok};
    let (Tok::Start(b"value"), pos) = next(doc, pos)? else {
        return None;
    };
    let (Tok::Start(b"metricId"), mut pos) = next(doc, pos)? else {
        return None;
    };
    let mut label = None;
    while let Some((name, text, end)) = leaf(doc, pos) {
        if name == b"label" && label.is_none() {
            label = Some(text);
        }
        pos = end;
    }
    let (Tok::End(b"metricId"), pos) = next(doc, pos)? else {
        return None;
    };
    let (b"values", csv, pos) = leaf(doc, pos)? else {
        return None;
    };
    let (Tok::End(b"value"), pos) = next(doc, pos)? else {
        return None;
    };
    Some(ValueRun {
        label,
        csv,
        end: pos,
    })
}

impl<'a> Texts<'a> {
    /// An element opens at `path` (below the entity): whether its text is read, its slot
    /// then made present (an empty element's text is the empty string).
    fn start(&mut self, path: &[&[u8]]) -> bool {
        let first = |s: &mut Option<Cow<'a, str>>| {
            let first = s.is_none();
            if first {
                *s = Some(Cow::Borrowed(""));
            }
            first
        };
        match path {
            [b"entityRefId"] => first(&mut self.entity),
            [b"sampleInfo"] => first(&mut self.info),
            [b"value"] => {
                self.values.push(ValueTexts::default());
                false
            }
            [b"value", b"metricId"] => {
                if let Some(v) = self.values.last_mut() {
                    v.metric_ids += 1;
                }
                false
            }
            [b"value", b"metricId", b"label"] => match self.values.last_mut() {
                Some(v) if v.metric_ids == 1 => first(&mut v.label),
                _ => false,
            },
            [b"value", b"values"] => self.values.last_mut().is_some_and(|v| first(&mut v.csv)),
            _ => false,
        }
    }

    /// Appends the text `raw` (escaped) to the element at `path` (only asked for a read
    /// one); `None` for a reference [`unescape`] leaves to the tree parser.
    fn append(&mut self, path: &[&[u8]], raw: &'a [u8]) -> Option<()> {
        let slot = match path {
            [b"entityRefId"] => self.entity.as_mut(),
            [b"sampleInfo"] => self.info.as_mut(),
            [b"value", b"metricId", b"label"] => self.values.last_mut()?.label.as_mut(),
            [b"value", b"values"] => self.values.last_mut()?.csv.as_mut(),
            _ => None,
        }?;
        let text = unescape(raw)?;
        if slot.is_empty() {
            *slot = text;
        } else {
            slot.to_mut().push_str(&text);
        }
        Some(())
    }
}

/// Character data with the five predefined and the numeric references resolved; `None` for
/// anything else (left to the tree parser).
fn unescape(raw: &[u8]) -> Option<Cow<'_, str>> {
    let s = std::str::from_utf8(raw).ok()?;
    if !s.contains('&') {
        return Some(Cow::Borrowed(s));
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';')? + i;
        let c = match &rest[i + 1..end] {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            r if r.starts_with("#x") => char::from_u32(u32::from_str_radix(&r[2..], 16).ok()?)?,
            r if r.starts_with('#') => char::from_u32(r[1..].parse().ok()?)?,
            _ => return None,
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(Cow::Owned(out))
}

/// An entity into `out` (its buffers reused) from its texts: `entityRefId`, `sampleInfo`
/// (through `stamps`), and per `value` its label and CSV values.
fn fill<'a>(
    out: &mut VsanEntityMetrics,
    stamps: &mut Stamps,
    entity: Option<&str>,
    info: Option<&str>,
    values: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> Result<(), VsanParseError> {
    let entity = entity
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .ok_or(VsanParseError::NoEntityRef)?;
    out.entity_ref_id.clear();
    out.entity_ref_id.push_str(entity);
    let info = info.unwrap_or_default().trim();
    if stamps.read(info, &mut out.timestamps).is_err() {
        let entity = entity.to_string();
        return Err(VsanParseError::TooManySamples { entity });
    }
    let mut n = 0;
    for (label, csv) in values {
        if n == MAX_LABELS {
            let entity = entity.to_string();
            return Err(VsanParseError::TooManyLabels { entity });
        }
        let label = label
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| VsanParseError::NoLabel {
                entity: entity.to_string(),
            })?;
        if n == out.series.len() {
            out.series.push(VsanSeries::default());
        }
        let s = &mut out.series[n];
        s.label.clear();
        s.label.push_str(label);
        // More values than timestamps: the extra ones have no time and are left out.
        s.values.clear();
        s.values.extend(
            csv.unwrap_or_default()
                .split(',')
                .take(out.timestamps.len())
                .map(parse_value),
        );
        n += 1;
    }
    out.series.truncate(n);
    Ok(())
}

fn integer(n: &Node, name: &'static str) -> Result<i64, VsanParseError> {
    match n.text_at(&[name]).map(str::trim) {
        None | Some("") => Ok(0), // xsd omitempty: absent is zero
        Some(v) => v.parse().map_err(|_| VsanParseError::NotAnInteger {
            what: name,
            value: v.chars().take(40).collect(),
        }),
    }
}

/// `VsanQuerySpaceUsage`'s `returnval` (`VsanSpaceUsage`).
pub(crate) fn space(rv: &Node) -> Result<VsanSpace, VsanParseError> {
    Ok(VsanSpace {
        total_capacity: integer(rv, "totalCapacityB")?,
        free_capacity: integer(rv, "freeCapacityB")?,
    })
}

/// `VsanQuerySyncingVsanObjects`'s `returnval` (`VsanHostVsanObjectSyncQueryResult`).
pub(crate) fn resync(rv: &Node) -> Result<VsanResync, VsanParseError> {
    Ok(VsanResync {
        total_bytes_to_sync: integer(rv, "totalBytesToSync")?,
        total_objects_to_sync: integer(rv, "totalObjectsToSync")?,
        total_recovery_eta: integer(rv, "totalRecoveryETA")?,
    })
}

#[derive(serde::Deserialize)]
struct CmmdsDoc {
    #[serde(default)]
    result: Vec<CmmdsJson>,
}

#[derive(serde::Deserialize)]
struct CmmdsJson {
    #[serde(default)]
    uuid: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    content: CmmdsContent,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CmmdsContent {
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    dev_name: String,
    #[serde(default)]
    is_ssd: f64,
    #[serde(default)]
    ssd_uuid: String,
}

/// `QueryCmmds`'s answer: a JSON document in a string, `{"result": [{uuid, owner, type,
/// content: {hostname, devName, isSsd, ssdUuid, …}}, …]}`; other content is ignored.
pub fn parse_cmmds(json: &str) -> Result<Cmmds, VsanParseError> {
    // Counted before parsing so that a huge directory is refused, not built.
    if json.matches("\"uuid\"").count() > MAX_CMMDS {
        return Err(VsanParseError::TooManyCmmds);
    }
    let doc: CmmdsDoc =
        serde_json::from_str(json).map_err(|e| VsanParseError::Cmmds(e.to_string()))?;
    Ok(doc
        .result
        .into_iter()
        .filter(|e| !e.uuid.is_empty())
        .map(|e| {
            (
                e.uuid,
                CmmdsEntry {
                    owner: e.owner,
                    hostname: e.content.hostname,
                    dev_name: e.content.dev_name,
                    is_ssd: e.content.is_ssd,
                    ssd_uuid: e.content.ssd_uuid,
                },
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::super::xml;
    use super::*;

    #[test]
    fn an_entity_keeps_every_sample_and_skips_what_is_not_a_number() {
        let doc = r#"<returnval><entityRefId>host-domclient:5f-1</entityRefId><sampleInfo>2026-12-06 14:50:00,bad,2026-12-06 14:55:00</sampleInfo><value><metricId><label>iopsRead</label></metricId><values>1,2,0.1,9</values></value><value><metricId><label>latencyAvgRead</label></metricId><values>x,NaN,3</values></value></returnval>"#;
        let e = parse_perf_entity(&xml::parse(doc.as_bytes()).unwrap()).unwrap();
        assert_eq!(e.type_and_uuid(), ("host-domclient", "5f-1"));
        assert_eq!(e.timestamps, vec![Some(1796568600), None, Some(1796568900)]);
        assert_eq!(e.series[0].label, "iopsRead");
        assert_eq!(
            e.series[0].values,
            vec![Some(1.0), Some(2.0), Some(0.1f32 as f64)]
        );
        assert_eq!(e.series[1].values, vec![None, None, Some(3.0)]);
    }

    #[test]
    fn the_tokenizer_reads_entities_as_the_tree_does() {
        let docs: [&[u8]; 11] = [
            // As the simulator and vSAN answer: prefixes, attributes, the metricId's leaves.
            br#"<vsan:returnval xsi:type="VsanPerfEntityMetricCSV"><entityRefId>virtual-machine:5e-1</entityRefId><sampleInfo>2026-12-06 14:50:00,2026-12-06 14:55:00</sampleInfo><value><metricId><label>iopsRead</label><group>virtual-machine</group><rollupType>average</rollupType></metricId><values>1,2.5</values></value><value><metricId><label>latencyRead</label><metricsCollectInterval>300</metricsCollectInterval></metricId><values>x,7</values></value></vsan:returnval>"#,
            // Escapes, a second element of a name (the first counts), whitespace.
            b"<returnval>\n <entityRefId>a:b&amp;c&#x41;</entityRefId><entityRefId>z:z</entityRefId><sampleInfo>2026-12-06 14:50:00</sampleInfo><value><metricId><label>l</label><label>m</label></metricId><metricId><label>n</label></metricId><values>1</values><values>2</values></value></returnval>",
            // Empty elements and a value without a label.
            b"<returnval><entityRefId>a:b</entityRefId><sampleInfo/><value><metricId><label/></metricId><values/></value></returnval>",
            b"<returnval><entityRefId>a:b</entityRefId><value><values>1</values></value></returnval>",
            b"<returnval/>",
            // The regular shape read in one step, and its near misses read token by token.
            br#"<returnval><entityRefId>a:b</entityRefId><sampleInfo>2026-12-06 14:50:00</sampleInfo><value xsi:type="VsanPerfMetricSeriesCSV"><metricId><group>g</group><label>x&amp;y</label><label>z</label></metricId><values>4</values></value><value><metricId></metricId><values>5</values></value></returnval>"#,
            b"<returnval><entityRefId>a:b</entityRefId><sampleInfo>2026-12-06 14:50:00</sampleInfo><value><values>1</values><metricId><label>l</label></metricId></value><value><metricId><label>m</label></metricId><values>2</values><values>3</values></value></returnval>",
            b"<returnval><entityRefId>a:b</entityRefId><value><metricId><label>l</label></metricId> <values>1</values></value><value><metricId><label>&bogus;</label></metricId><values>1</values></value></returnval>",
            // What the tokenizer leaves to the tree: a comment, CDATA, an unknown reference.
            b"<returnval><entityRefId>a:b<!-- c --></entityRefId></returnval>",
            b"<returnval><entityRefId><![CDATA[a:b]]></entityRefId></returnval>",
            b"<returnval><entityRefId>a:&nbsp;</entityRefId></returnval>",
        ];
        // One reader for all, as for an answer's entities: what it keeps from one to the
        // next must not change what it reads.
        let mut reader = EntityReader::default();
        for doc in docs.iter().chain(docs.iter().rev()) {
            let text = String::from_utf8_lossy(doc);
            assert!(scan_agrees(&mut reader, doc), "{text}");
            let tree = xml::parse(doc).map(|n| parse_perf_entity(&n));
            match tree {
                Ok(tree) => assert_eq!(parse_perf_entity_bytes(doc), tree, "{text}"),
                Err(_) => assert!(parse_perf_entity_bytes(doc).is_err(), "{text}"),
            }
        }
        assert!(scan_entity(docs[0]).is_some());
        assert!(scan_entity(docs[8]).is_none());
        assert!(value_run(docs[5], 85).is_some());
        // Cut short or mismatched: the tree parser's error.
        for doc in [
            &b"<returnval><entityRefId>a"[..],
            b"<returnval><a></b></returnval>",
        ] {
            assert!(scan_entity(doc).is_none());
            assert!(matches!(
                parse_perf_entity_bytes(doc),
                Err(VsanParseError::Xml(_))
            ));
        }
    }

    #[test]
    fn malformed_entities_are_errors_not_panics() {
        let no_ref = xml::parse(b"<returnval><sampleInfo>x</sampleInfo></returnval>").unwrap();
        assert_eq!(parse_perf_entity(&no_ref), Err(VsanParseError::NoEntityRef));
        let no_label = xml::parse(b"<returnval><entityRefId>a:b</entityRefId><value><values>1</values></value></returnval>").unwrap();
        assert!(matches!(
            parse_perf_entity(&no_label),
            Err(VsanParseError::NoLabel { .. })
        ));
        let many = format!(
            "<returnval><entityRefId>a:b</entityRefId><sampleInfo>{}</sampleInfo></returnval>",
            vec!["x"; MAX_SAMPLES + 1].join(",")
        );
        assert!(matches!(
            parse_perf_entity(&xml::parse(many.as_bytes()).unwrap()),
            Err(VsanParseError::TooManySamples { .. })
        ));
    }

    #[test]
    fn cmmds_maps_uuids_to_hosts_and_disks() {
        let j = r#"{"result":[{"uuid":"h1","owner":"h1","type":"HOSTNAME","content":{"hostname":"esx1"}},{"uuid":"d1","owner":"h1","type":"DISK","content":{"devName":"naa.1:2","isSsd":0,"ssdUuid":"d0","capacity":5}}]}"#;
        let c = parse_cmmds(j).unwrap();
        assert_eq!(c["h1"].hostname, "esx1");
        assert_eq!(
            (
                c["d1"].owner.as_str(),
                c["d1"].dev_name.as_str(),
                c["d1"].is_ssd
            ),
            ("h1", "naa.1:2", 0.0)
        );
        assert!(matches!(parse_cmmds("{"), Err(VsanParseError::Cmmds(_))));
    }

    #[test]
    fn summary_integers_absent_are_zero_and_garbage_is_an_error() {
        let rv = xml::parse(b"<returnval><totalCapacityB>10</totalCapacityB></returnval>").unwrap();
        assert_eq!(
            space(&rv).unwrap(),
            VsanSpace {
                total_capacity: 10,
                free_capacity: 0
            }
        );
        let bad =
            xml::parse(b"<returnval><totalBytesToSync>1e3</totalBytesToSync></returnval>").unwrap();
        assert!(resync(&bad).is_err());
    }
}
