//! vSAN answers to values. Everything here comes from the network: nothing panics, every
//! list is bounded, and what cannot be read is a [`VsanParseError`] naming the cause.

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

/// One `VsanPerfEntityMetricCSV` (a `returnval` of `VsanPerfQueryPerf`).
pub(crate) fn parse_perf_entity(n: &Node) -> Result<VsanEntityMetrics, VsanParseError> {
    let values = n
        .children_named("value")
        .map(|v| (v.text_at(&["metricId", "label"]), v.text_at(&["values"])))
        .collect::<Vec<_>>();
    entity(
        n.text_at(&["entityRefId"]),
        n.text_at(&["sampleInfo"]),
        values.into_iter(),
    )
}

/// The same from the entity's bytes (as [`crate::vsphere::scan::Cutter`] cuts them), read by
/// the tokenizer without a tree: what it does not read (a comment, CDATA, an unknown entity
/// reference) goes to the tree parser and [`parse_perf_entity`], which reads every answer
/// the same way (tests and the `vsan` fuzz target compare the two).
pub(crate) fn parse_perf_entity_bytes(doc: &[u8]) -> Result<VsanEntityMetrics, VsanParseError> {
    match scan_entity(doc) {
        Some(r) => r,
        None => {
            let n = crate::vsphere::xml::parse(doc).map_err(VsanParseError::Xml)?;
            parse_perf_entity(&n)
        }
    }
}

/// Whether the tokenizer reads `doc` as the tree parser does, where both read it (for the
/// `vsan` fuzz target and the tests).
pub(crate) fn scan_agrees(doc: &[u8]) -> bool {
    let Some(Ok(scanned)) = scan_entity(doc) else {
        return true;
    };
    match crate::vsphere::xml::parse(doc).map(|n| parse_perf_entity(&n)) {
        Ok(Ok(tree)) => tree == scanned,
        _ => true,
    }
}

/// The texts of one entity's elements, each the first of its name (as [`Node::child`] picks).
#[derive(Default)]
struct Texts {
    entity: Option<String>,
    info: Option<String>,
    values: Vec<ValueTexts>,
}

/// One `value`: its first `metricId`'s first `label`, its first `values`.
#[derive(Default)]
struct ValueTexts {
    label: Option<String>,
    csv: Option<String>,
    metric_ids: usize,
}

/// The deepest element the tokenizer reads: deeper ones go to the tree parser.
const SCAN_DEPTH: usize = 16;

/// The tokenizer's reading of an entity; `None` for what it leaves to the tree parser.
fn scan_entity(doc: &[u8]) -> Option<Result<VsanEntityMetrics, VsanParseError>> {
    use crate::vsphere::scan::{next, Tok};
    let mut t = Texts::default();
    // The open elements, the entity's own first; `open` whether each is the one whose text
    // is read (the first of its name).
    let mut path: Vec<&[u8]> = Vec::new();
    let mut open: Vec<bool> = Vec::new();
    let mut pos = 0;
    let mut closed = false;
    while let Some((tok, end)) = next(doc, pos) {
        pos = end;
        if closed {
            return None; // bytes after the entity: the tree parser says what they are
        }
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
                    let s = t.slot(&path[1..])?;
                    s.push_str(&unescape(raw)?);
                }
            }
            Tok::Other => return None,
        }
    }
    if !closed || pos != doc.len() {
        return None; // cut short: the tree parser says where
    }
    let values = t
        .values
        .iter()
        .map(|v| (v.label.as_deref(), v.csv.as_deref()));
    Some(entity(t.entity.as_deref(), t.info.as_deref(), values))
}

impl Texts {
    /// An element opens at `path` (below the entity): whether its text is read, its slot
    /// then made present (an empty element's text is the empty string).
    fn start(&mut self, path: &[&[u8]]) -> bool {
        let first = |s: &mut Option<String>| {
            let first = s.is_none();
            if first {
                *s = Some(String::new());
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

    /// Where the text of the element at `path` goes (only asked for a read one).
    fn slot(&mut self, path: &[&[u8]]) -> Option<&mut String> {
        match path {
            [b"entityRefId"] => self.entity.as_mut(),
            [b"sampleInfo"] => self.info.as_mut(),
            [b"value", b"metricId", b"label"] => self.values.last_mut()?.label.as_mut(),
            [b"value", b"values"] => self.values.last_mut()?.csv.as_mut(),
            _ => None,
        }
    }
}

/// Character data with the five predefined and the numeric references resolved; `None` for
/// anything else (left to the tree parser).
fn unescape(raw: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    let s = std::str::from_utf8(raw).ok()?;
    if !s.contains('&') {
        return Some(std::borrow::Cow::Borrowed(s));
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
    Some(std::borrow::Cow::Owned(out))
}

/// An entity from its texts: `entityRefId`, `sampleInfo`, and per `value` its label and
/// CSV values.
fn entity<'a>(
    entity: Option<&str>,
    info: Option<&str>,
    values: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> Result<VsanEntityMetrics, VsanParseError> {
    let entity = entity
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .ok_or(VsanParseError::NoEntityRef)?
        .to_string();
    let info = info.unwrap_or_default().trim();
    let timestamps: Vec<Option<i64>> = if info.is_empty() {
        Vec::new()
    } else {
        let mut out = Vec::new();
        for t in info.split(',') {
            if out.len() == MAX_SAMPLES {
                return Err(VsanParseError::TooManySamples { entity });
            }
            out.push(parse_timestamp(t));
        }
        out
    };
    let mut series = Vec::new();
    for (label, csv) in values {
        if series.len() == MAX_LABELS {
            return Err(VsanParseError::TooManyLabels { entity });
        }
        let label = label
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| VsanParseError::NoLabel {
                entity: entity.clone(),
            })?
            .to_string();
        // More values than timestamps: the extra ones have no time and are left out.
        let values = csv
            .unwrap_or_default()
            .split(',')
            .take(timestamps.len())
            .map(parse_value)
            .collect();
        series.push(VsanSeries { label, values });
    }
    Ok(VsanEntityMetrics {
        entity_ref_id: entity,
        timestamps,
        series,
    })
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
        let docs: [&[u8]; 8] = [
            // As the simulator and vSAN answer: prefixes, attributes, the metricId's leaves.
            br#"<vsan:returnval xsi:type="VsanPerfEntityMetricCSV"><entityRefId>virtual-machine:5e-1</entityRefId><sampleInfo>2026-12-06 14:50:00,2026-12-06 14:55:00</sampleInfo><value><metricId><label>iopsRead</label><group>virtual-machine</group><rollupType>average</rollupType></metricId><values>1,2.5</values></value><value><metricId><label>latencyRead</label><metricsCollectInterval>300</metricsCollectInterval></metricId><values>x,7</values></value></vsan:returnval>"#,
            // Escapes, a second element of a name (the first counts), whitespace.
            b"<returnval>\n <entityRefId>a:b&amp;c&#x41;</entityRefId><entityRefId>z:z</entityRefId><sampleInfo>2026-12-06 14:50:00</sampleInfo><value><metricId><label>l</label><label>m</label></metricId><metricId><label>n</label></metricId><values>1</values><values>2</values></value></returnval>",
            // Empty elements and a value without a label.
            b"<returnval><entityRefId>a:b</entityRefId><sampleInfo/><value><metricId><label/></metricId><values/></value></returnval>",
            b"<returnval><entityRefId>a:b</entityRefId><value><values>1</values></value></returnval>",
            b"<returnval/>",
            // What the tokenizer leaves to the tree: a comment, CDATA, an unknown reference.
            b"<returnval><entityRefId>a:b<!-- c --></entityRefId></returnval>",
            b"<returnval><entityRefId><![CDATA[a:b]]></entityRefId></returnval>",
            b"<returnval><entityRefId>a:&nbsp;</entityRefId></returnval>",
        ];
        for doc in docs {
            let text = String::from_utf8_lossy(doc);
            assert!(scan_agrees(doc), "{text}");
            let tree = xml::parse(doc).map(|n| parse_perf_entity(&n));
            match tree {
                Ok(tree) => assert_eq!(parse_perf_entity_bytes(doc), tree, "{text}"),
                Err(_) => assert!(parse_perf_entity_bytes(doc).is_err(), "{text}"),
            }
        }
        assert!(scan_entity(docs[0]).is_some());
        assert!(scan_entity(docs[5]).is_none());
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
