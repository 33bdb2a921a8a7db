use std::sync::Arc;

use super::*;
use crate::vsphere::{MetricId, PerfFormat};

const ENV_START: &str = r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><QueryPerfResponse xmlns="urn:vim25">"#;
const ENV_END: &str = "</QueryPerfResponse></soapenv:Body></soapenv:Envelope>";

fn doc(inner: &str) -> String {
    format!("{ENV_START}{inner}{ENV_END}")
}

/// Normal format; samples out of order, an aggregate ("") and a per-instance series, a -1.
const NORMAL: &str = r#"<returnval xsi:type="PerfEntityMetric"><entity type="VirtualMachine">vm-1</entity><sampleInfo><timestamp>2026-08-21T10:00:40Z</timestamp><interval>20</interval></sampleInfo><sampleInfo><timestamp>2026-08-21T10:00:20.000+00:00</timestamp><interval>20</interval></sampleInfo><sampleInfo><timestamp>2026-08-21T12:01:00+02:00</timestamp><interval>20</interval></sampleInfo><value xsi:type="PerfMetricIntSeries"><id><counterId>2</counterId><instance></instance></id><value>100</value><value>-1</value><value>300</value></value><value xsi:type="PerfMetricIntSeries"><id><counterId>2</counterId><instance>0</instance></id><value>7</value><value>8</value><value>9</value></value></returnval><returnval xsi:type="PerfEntityMetric"><entity type="HostSystem">host-&amp;1</entity><sampleInfo><timestamp>2026-08-21T10:00:20Z</timestamp><interval>20</interval></sampleInfo><value xsi:type="PerfMetricIntSeries"><id><counterId>5</counterId><instance/></id><value>42</value></value></returnval>"#;

/// The same data as CSV.
const CSV: &str = r#"<returnval xsi:type="PerfEntityMetricCSV"><entity type="VirtualMachine">vm-1</entity><sampleInfoCSV>20,2026-08-21T10:00:40Z,20,2026-08-21T10:00:20Z,20,2026-08-21T10:01:00Z</sampleInfoCSV><value xsi:type="PerfMetricSeriesCSV"><id><counterId>2</counterId><instance></instance></id><value>100,-1,300</value></value><value xsi:type="PerfMetricSeriesCSV"><id><counterId>2</counterId><instance>0</instance></id><value>7,8,9</value></value></returnval><returnval xsi:type="PerfEntityMetricCSV"><entity type="HostSystem">host-&amp;1</entity><sampleInfoCSV>20,2026-08-21T10:00:20Z</sampleInfoCSV><value xsi:type="PerfMetricSeriesCSV"><id><counterId>5</counterId><instance/></id><value>42</value></value></returnval>"#;

const T0: i64 = 1_787_306_400; // 2026-08-21T10:00:00Z

fn expected() -> Vec<EntityMetrics> {
    vec![
        EntityMetrics {
            kind: Some(EntityKind::Vm),
            moid: "vm-1".into(),
            timestamps: vec![T0 + 40, T0 + 20, T0 + 60],
            series: vec![
                Series {
                    counter_id: 2,
                    instance: "".into(),
                    values: vec![100, -1, 300],
                },
                Series {
                    counter_id: 2,
                    instance: "0".into(),
                    values: vec![7, 8, 9],
                },
            ],
        },
        EntityMetrics {
            kind: Some(EntityKind::Host),
            moid: "host-&1".into(),
            timestamps: vec![T0 + 20],
            series: vec![Series {
                counter_id: 5,
                instance: "".into(),
                values: vec![42],
            }],
        },
    ]
}

fn parse_all(d: &str) -> Result<(Vec<EntityMetrics>, QueryStats), PerfParseError> {
    let mut out = Vec::new();
    let stats = parse_perf_slice(d.as_bytes(), |e| out.push(e))?;
    Ok((out, stats))
}

#[test]
fn normal_format() {
    let (got, stats) = parse_all(&doc(NORMAL)).unwrap();
    assert_eq!(got, expected());
    assert_eq!(stats.entities, 2);
    assert_eq!(stats.samples, 6, "the -1 is kept but not counted");
    assert_eq!(stats.bytes as usize, doc(NORMAL).len());
}

#[test]
fn csv_format() {
    let (got, stats) = parse_all(&doc(CSV)).unwrap();
    assert_eq!(got, expected());
    assert_eq!(stats.samples, 6);
}

#[test]
fn empty_answer_and_empty_entity() {
    let (got, _) = parse_all(&doc("")).unwrap();
    assert!(got.is_empty());
    let (got, _) = parse_all(&doc(
        r#"<returnval><entity type="VirtualMachine">vm-9</entity></returnval>"#,
    ))
    .unwrap();
    assert_eq!(got[0].moid, "vm-9");
    assert!(got[0].timestamps.is_empty());
}

#[tokio::test]
async fn async_reader_gives_the_same() {
    for d in [doc(NORMAL), doc(CSV)] {
        // A tiny buffer, so that events straddle reads.
        let r = tokio::io::BufReader::with_capacity(7, d.as_bytes());
        let mut pr = PerfReader::new(r);
        let mut got = Vec::new();
        while let Some(e) = pr.next().await.unwrap() {
            got.push(e);
        }
        assert_eq!(got, expected());
        assert_eq!(pr.bytes() as usize, d.len());
    }
}

#[test]
fn truncated_mid_returnval_is_an_error_after_the_complete_ones() {
    let full = doc(NORMAL);
    let cut = full.find("host-&amp;1").unwrap() + 3;
    for (end, complete) in [(cut, 1), (full.len() - 10, 2), (full.len() - 30, 2)] {
        let mut n = 0;
        let err = parse_perf_slice(&full.as_bytes()[..end], |_| n += 1).unwrap_err();
        assert!(
            matches!(err, PerfParseError::Truncated(_)),
            "cut at {end}: {err:?}"
        );
        assert_eq!(n, complete, "the complete entities were delivered");
    }
    assert!(matches!(
        parse_all("").unwrap_err(),
        PerfParseError::Truncated(_)
    ));
}

#[test]
fn malformed_is_an_error() {
    for bad in [
        doc("<returnval><entity>vm-1</entity><value><id><counterId>x</counterId></id></value></returnval>"),
        doc("<returnval><entity>vm-1</entity></oops></returnval>"),
        "<html><body>503</body></html>".to_string(),
        doc(r#"<returnval><entity>vm-1</entity><sampleInfo><timestamp>yesterday</timestamp></sampleInfo></returnval>"#),
        doc(r#"<returnval><entity>vm-1</entity><sampleInfoCSV>20,2026-08-21T10:00:40Z</sampleInfoCSV><value><id><counterId>1</counterId></id><value>1,2</value></value></returnval>"#),
        doc(r#"<returnval><entity>vm-1</entity><sampleInfoCSV>20,not-a-date</sampleInfoCSV></returnval>"#),
    ] {
        let err = parse_all(&bad).unwrap_err();
        assert!(matches!(err, PerfParseError::Malformed(_)), "{bad}: {err:?}");
    }
}

#[test]
fn fault_in_body() {
    let d = r#"<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>A specified parameter was not correct: querySpec.startTime</faultstring><detail><InvalidArgumentFault xmlns="urn:vim25" xsi:type="InvalidArgument"><invalidProperty>querySpec.startTime</invalidProperty></InvalidArgumentFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#;
    assert_eq!(
        parse_all(d).unwrap_err(),
        PerfParseError::Fault {
            fault: "InvalidArgument".into(),
            message: "A specified parameter was not correct: querySpec.startTime".into()
        }
    );
}

#[test]
fn empty_series_dropped_short_series_padded() {
    let (got, stats) = parse_all(&doc(r#"<returnval><entity type="VirtualMachine">vm-1</entity><sampleInfoCSV>20,2026-08-21T10:00:20Z,20,2026-08-21T10:00:40Z</sampleInfoCSV><value><id><counterId>1</counterId><instance>*</instance></id></value><value><id><counterId>2</counterId><instance></instance></id><value>5</value></value></returnval>"#)).unwrap();
    assert_eq!(got[0].series.len(), 1);
    assert_eq!(got[0].series[0].values, vec![5, -1]);
    assert_eq!(stats.samples, 1);
}

#[test]
fn integers() {
    assert_eq!(parse_i64(b"0"), Some(0));
    assert_eq!(parse_i64(b" -1 "), Some(-1));
    assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
    assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    assert_eq!(parse_i64(b"99999999999999999999"), None);
    assert_eq!(parse_i64(b"1a"), None);
    assert_eq!(parse_i64(b""), None);
    assert_eq!(parse_i64(b"-"), None);
}

#[test]
fn times() {
    assert_eq!(parse_time("2026-08-21T10:00:00Z"), Some(T0));
    assert_eq!(parse_time("2026-08-21T10:00:00.123456Z"), Some(T0));
    assert_eq!(parse_time("2026-08-21T12:00:00+02:00"), Some(T0));
    assert_eq!(parse_time("2026-08-21T10:00:00"), Some(T0));
    assert_eq!(format_time(T0), "2026-08-21T10:00:00Z");
}

#[test]
fn window_start_is_exclusive() {
    let mut e = expected().remove(0);
    drop_at_or_before(&mut e, T0 + 20);
    assert_eq!(e.timestamps, vec![T0 + 40, T0 + 60]);
    assert_eq!(e.series[0].values, vec![100, 300]);
    assert_eq!(e.series[1].values, vec![7, 9]);
}

#[test]
fn request_is_escaped_and_ordered() {
    let spec = PerfQuerySpec {
        kind: EntityKind::Vm,
        moid: "vm-<1>".into(),
        start: Some(T0),
        end: Some(T0 + 300),
        max_sample: 15,
        metric_ids: Arc::from(vec![MetricId {
            counter_id: 2,
            instance: "a&b".into(),
        }]),
        interval_id: 20,
        format: PerfFormat::Csv,
    };
    let b = request_body("PerformanceManager", "PerfMgr", &[spec]);
    assert_eq!(
        b,
        r#"<QueryPerf xmlns="urn:vim25"><_this type="PerformanceManager">PerfMgr</_this><querySpec><entity type="VirtualMachine">vm-&lt;1&gt;</entity><startTime>2026-08-21T10:00:00Z</startTime><endTime>2026-08-21T10:05:00Z</endTime><maxSample>15</maxSample><metricId><counterId>2</counterId><instance>a&amp;b</instance></metricId><intervalId>20</intervalId><format>csv</format></querySpec></QueryPerf>"#
    );
}

/// The leaf fast path (`<name>text</name>` taken without quick-xml) must see exactly what
/// the events would give: the same documents spelled so that it cannot apply (namespace
/// prefixes, whitespace, comments, CDATA, attributes) parse to the same entities.
#[test]
fn leaf_fast_path_agrees_with_the_events() {
    let variants = [
        ["100", "-1", "300", "7", "8", "9", "42"]
            .iter()
            .fold(NORMAL.to_string(), |d, v| {
                d.replace(
                    &format!("<value>{v}</value>"),
                    &format!("<vim:value>{v}</vim:value>"),
                )
            }),
        NORMAL.replace("</value><value>", "</value>\n  <value>"),
        NORMAL.replace("</value><value>", "</value><!-- c --><value>"),
        NORMAL.replace("<value>100</value>", "<value><![CDATA[100]]></value>"),
        NORMAL.replace("<value>7</value>", "<value >7</value>"),
        NORMAL.replace("<value>8</value>", "<value> 8 </value>"),
        NORMAL.replace("<counterId>2</counterId>", "<counterId>+2</counterId>"),
        NORMAL.replace("<instance>0</instance>", "<instance>&#48;</instance>"),
        NORMAL.replace(
            "<timestamp>2026-08-21T10:00:40Z</timestamp>",
            "<timestamp>2026-08-21T10:00:40.000Z</timestamp>",
        ),
    ];
    for v in variants {
        let (got, _) = parse_all(&doc(&v)).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert_eq!(got, expected(), "{v}");
        let d = doc(&v);
        let mut pr = PerfReader::new(tokio::io::BufReader::with_capacity(7, d.as_bytes()));
        let got = futures::executor::block_on(async {
            let mut got = Vec::new();
            while let Some(e) = pr.next().await.unwrap() {
                got.push(e);
            }
            got
        });
        assert_eq!(got, expected(), "async: {v}");
    }
    // Big and negative numbers, and ones the fast path leaves to the general one.
    let big = doc(
        r#"<returnval><entity type="VirtualMachine">vm-1</entity><sampleInfo><timestamp>2026-08-21T10:00:20Z</timestamp></sampleInfo><sampleInfo><timestamp>2026-08-21T10:00:40Z</timestamp></sampleInfo><sampleInfo><timestamp>2026-08-21T10:01:00Z</timestamp></sampleInfo><sampleInfo><timestamp>2026-08-21T10:01:20Z</timestamp></sampleInfo><value><id><counterId>1</counterId><instance/></id><value>999999999999999999</value><value>-9223372036854775808</value><value>-0</value><value>+5</value></value></returnval>"#,
    );
    let (got, _) = parse_all(&big).unwrap();
    assert_eq!(
        got[0].series[0].values,
        vec![999_999_999_999_999_999, i64::MIN, 0, 5]
    );
}

#[test]
fn leaf_fast_path_errors_like_the_events() {
    for bad in [
        NORMAL.replace("<value>300</value>", "<value>3x0</value>"),
        NORMAL.replace("<value>300</value>", "<value>300</valu>"),
        NORMAL.replace("<value>300</value>", "<value>300</value></value>"),
        NORMAL.replace("<value>9</value>", "<value>9</value><value>10</value>"),
        NORMAL.replace("<counterId>2</counterId>", "<counterId>2</counterid>"),
    ] {
        let err = parse_all(&doc(&bad)).unwrap_err();
        assert!(
            matches!(err, PerfParseError::Malformed(_)),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn fast_times_agree_with_chrono() {
    let chrono_time = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| d.timestamp())
    };
    // Every day of several years (leap and not), at a few times of day.
    let mut t = chrono::DateTime::parse_from_rfc3339("1999-12-25T00:00:00Z")
        .unwrap()
        .timestamp();
    let end = chrono::DateTime::parse_from_rfc3339("2101-03-05T00:00:00Z")
        .unwrap()
        .timestamp();
    while t < end {
        for off in [0, 1, 59, 3599, 43_210, 86_399] {
            let s = format_time(t + off);
            assert_eq!(parse_time_utc_seconds(s.as_bytes()), Some(t + off), "{s}");
        }
        t += 86_400 * 3 + 7;
    }
    for s in [
        "2026-02-29T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:60:00Z",
        "2026-01-01T00:00:60Z",
        "2026-01-01 00:00:00Z",
        "2026-01-01T00:00:0xZ",
        "+026-01-01T00:00:00Z",
    ] {
        assert_eq!(parse_time_utc_seconds(s.as_bytes()), None, "{s}");
        assert_eq!(parse_time(s), chrono_time(s), "{s}");
    }
    assert_eq!(
        parse_time("2024-02-29T23:59:59Z"),
        chrono_time("2024-02-29T23:59:59Z")
    );
}
