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
    let entity = n
        .text_at(&["entityRefId"])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .ok_or(VsanParseError::NoEntityRef)?
        .to_string();
    let info = n.text_at(&["sampleInfo"]).unwrap_or_default().trim();
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
    for v in n.children_named("value") {
        if series.len() == MAX_LABELS {
            return Err(VsanParseError::TooManyLabels { entity });
        }
        let label = v
            .text_at(&["metricId", "label"])
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| VsanParseError::NoLabel {
                entity: entity.clone(),
            })?
            .to_string();
        // More values than timestamps: the extra ones have no time and are left out.
        let values = v
            .text_at(&["values"])
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
