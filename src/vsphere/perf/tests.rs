use std::sync::Arc;

use super::*;
use crate::vsphere::{MetricId, PerfFormat, Series};

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
    let series = |counter_id, instance, values| Series {
        counter_id,
        instance,
        values,
    };
    vec![
        EntityMetrics::new(
            Some(EntityKind::Vm),
            "vm-1",
            vec![T0 + 40, T0 + 20, T0 + 60],
            [series(2, "", &[100, -1, 300]), series(2, "0", &[7, 8, 9])],
        ),
        EntityMetrics::new(
            Some(EntityKind::Host),
            "host-&1",
            vec![T0 + 20],
            [series(5, "", &[42])],
        ),
    ]
}

/// The values that are data (>= 0): the `-1` "no data" markers are kept but not counted.
fn count_samples(got: &[EntityMetrics]) -> usize {
    got.iter()
        .flat_map(|e| e.series())
        .map(|s| s.values.iter().filter(|v| **v >= 0).count())
        .sum()
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
    assert_eq!(count_samples(&got), 6, "the -1 is kept but not counted");
    assert_eq!(stats.bytes as usize, doc(NORMAL).len());
}

#[test]
fn csv_format() {
    let (got, stats) = parse_all(&doc(CSV)).unwrap();
    assert_eq!(got, expected());
    assert_eq!((count_samples(&got), stats.entities), (6, 2));
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
fn empty_series_dropped_short_series_kept_as_sent() {
    let (got, stats) = parse_all(&doc(r#"<returnval><entity type="VirtualMachine">vm-1</entity><sampleInfoCSV>20,2026-08-21T10:00:20Z,20,2026-08-21T10:00:40Z</sampleInfoCSV><value><id><counterId>1</counterId><instance>*</instance></id></value><value><id><counterId>2</counterId><instance></instance></id><value>5</value></value></returnval>"#)).unwrap();
    assert_eq!(got[0].series_len(), 1);
    assert_eq!(
        got[0].series_at(0).values,
        vec![5],
        "the missing tail is no data"
    );
    assert_eq!((count_samples(&got), stats.entities), (1, 1));
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
        got[0].series_at(0).values,
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

// ---- hostile and broken input (issue 12) ----

/// Streams `d` in reads of `size` bytes (`usize::MAX`: one read): the entities, then the
/// error, if any.
fn stream(d: &[u8], size: usize) -> (Vec<EntityMetrics>, Option<PerfParseError>) {
    struct Chunks<'a>(&'a [u8], usize);
    impl tokio::io::AsyncRead for Chunks<'_> {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            let n = self.1.min(buf.remaining()).min(self.0.len());
            let (head, tail) = self.0.split_at(n);
            buf.put_slice(head);
            self.0 = tail;
            std::task::Poll::Ready(Ok(()))
        }
    }
    let mut r = PerfReader::new(Chunks(d, size));
    futures::executor::block_on(async {
        let mut out = Vec::new();
        loop {
            match r.next().await {
                Ok(Some(e)) => out.push(e),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    })
}

fn slice(d: &[u8]) -> (Vec<EntityMetrics>, Option<PerfParseError>) {
    let mut out = Vec::new();
    let err = parse_perf_slice(d, |e| out.push(e)).err();
    (out, err)
}

/// Documents whose `</returnval>` text sits where a text search would take it for the end
/// of an entity: in a comment, a CDATA section, an attribute, an unclosed tag; plus broken
/// and faulty ones. Every chunking must give what the slice parser gives.
fn tricky_documents() -> Vec<(&'static str, String)> {
    vec![
        ("normal", doc(NORMAL)),
        ("csv", doc(CSV)),
        ("comment", doc(&format!("<!--</returnval>-->{NORMAL}<!-- </returnval> -->"))),
        (
            "cdata",
            doc(&NORMAL.replace("<instance>0</instance>", "<instance><![CDATA[</returnval>]]></instance>")),
        ),
        (
            "attribute",
            doc(&NORMAL.replace("<entity type=", r#"<entity x="</returnval>" type="#)),
        ),
        ("unclosed tag", doc(&format!("{NORMAL}<returnval a=\"</returnval>"))),
        ("30 bytes", "<!--</returnval>--><Envelope/>".into()),
        ("bare", "<a/>".into()),
        ("text", "Service Unavailable".into()),
        ("empty", String::new()),
        ("fault", ENV_START.replace(r#"<QueryPerfResponse xmlns="urn:vim25">"#, "")
            + "<soapenv:Fault><faultstring>boom</faultstring><detail><SystemErrorFault/></detail></soapenv:Fault>"
            + "</soapenv:Body></soapenv:Envelope>"),
        ("truncated", doc(NORMAL)[..500].to_string()),
        ("bom", format!("\u{feff}{}", doc(NORMAL))),
        ("bom in a value", doc(&NORMAL.replace("<value>300</value>", "<value>\u{feff}300</value>"))),
    ]
}

#[test]
fn every_chunking_gives_the_same_entities_values_and_errors() {
    for (name, d) in tricky_documents() {
        let want = slice(d.as_bytes());
        for size in (1..=40).chain([63, 64, 100, 499, 1000, usize::MAX]) {
            assert_eq!(
                stream(d.as_bytes(), size),
                want,
                "{name}, reads of {size} bytes"
            );
        }
    }
    // The ones that are valid stay valid, whatever the chunking.
    for name in ["comment", "cdata", "attribute", "30 bytes", "bom"] {
        let d = &tricky_documents()
            .into_iter()
            .find(|(n, _)| *n == name)
            .unwrap()
            .1;
        assert_eq!(slice(d.as_bytes()).1, None, "{name}");
    }
}

#[test]
fn the_error_that_ends_a_stream_is_reported_as_itself() {
    // A document that is not a SOAP envelope is malformed, not "truncated" (not retried).
    for d in [
        "<a/>",
        "<html><body>502</body></html>",
        "Service Unavailable",
    ] {
        let (_, err) = stream(d.as_bytes(), 7);
        assert!(
            matches!(err, Some(PerfParseError::Malformed(_))),
            "{d}: {err:?}"
        );
    }
    // A fault that ends the stream is that fault.
    let d = ENV_START.replace(r#"<QueryPerfResponse xmlns="urn:vim25">"#, "")
        + "<soapenv:Fault><faultstring>boom</faultstring><detail><SystemErrorFault/></detail></soapenv:Fault>"
        + "</soapenv:Body></soapenv:Envelope>";
    let (got, err) = stream(d.as_bytes(), 64);
    assert!(got.is_empty());
    assert_eq!(
        err,
        Some(PerfParseError::Fault {
            fault: "SystemError".into(),
            message: "boom".into()
        })
    );
    // Only a real truncation is one.
    let (_, err) = stream(&doc(NORMAL).as_bytes()[..300], 64);
    assert!(matches!(err, Some(PerfParseError::Truncated(_))), "{err:?}");
    let (_, err) = stream(b"", 64);
    assert!(matches!(err, Some(PerfParseError::Truncated(_))), "{err:?}");
}

/// A connection that breaks after the first entity: that entity is handed out (passes are
/// gathered into 32-KB ones, but a failed read first parses what is pending), then the
/// read error, as a truncation.
#[test]
fn a_broken_connection_hands_out_the_entities_before_it() {
    struct Breaks<'a>(&'a [u8]);
    impl tokio::io::AsyncRead for Breaks<'_> {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            if self.0.is_empty() {
                let reset = std::io::ErrorKind::ConnectionReset;
                return std::task::Poll::Ready(Err(reset.into()));
            }
            let n = 100.min(buf.remaining()).min(self.0.len());
            let (head, tail) = self.0.split_at(n);
            buf.put_slice(head);
            self.0 = tail;
            std::task::Poll::Ready(Ok(()))
        }
    }
    let full = doc(NORMAL);
    let cut = full
        .find("<returnval xsi:type=\"PerfEntityMetric\"><entity type=\"HostSystem\">")
        .unwrap()
        + 5;
    let mut r = PerfReader::new(Breaks(&full.as_bytes()[..cut]));
    let (got, err) = futures::executor::block_on(async {
        let mut out = Vec::new();
        loop {
            match r.next().await {
                Ok(Some(e)) => out.push(e),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    });
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].moid, "vm-1");
    assert!(
        matches!(&err, Some(PerfParseError::Truncated(m)) if m.contains("read failed")),
        "{err:?}"
    );
}

/// Many timestamps and many one-value series: a few hundred KB of answer used to become
/// every series padded to every timestamp (100 M values from 1.37 MB).
#[test]
fn short_series_are_not_padded_to_the_timestamps() {
    let samples = 20_000;
    let mut info = String::from("<sampleInfoCSV>");
    for i in 0..samples {
        if i > 0 {
            info.push(',');
        }
        info.push_str(&format!("20,{}", format_time(T0 + 20 * i)));
    }
    info.push_str("</sampleInfoCSV>");
    let series = 2_000;
    let mut body = format!(r#"<returnval><entity type="HostSystem">host-1</entity>{info}"#);
    for i in 0..series {
        body.push_str(&format!(
            "<value><id><counterId>{i}</counterId><instance/></id><value>1</value></value>"
        ));
    }
    body.push_str("</returnval>");
    let d = doc(&body);
    let (got, err) = slice(d.as_bytes());
    assert_eq!(err, None);
    let values: usize = got[0].series().map(|s| s.values.len()).sum();
    let held: usize = got[0].values_capacity();
    assert_eq!(values, series);
    assert!(
        held * 8 < 4 * d.len(),
        "{held} values held for a {} byte answer",
        d.len()
    );
}

#[test]
fn a_series_longer_than_its_timestamps_is_an_error() {
    let d = doc(
        r#"<returnval><entity type="VirtualMachine">vm-1</entity><sampleInfoCSV>20,2026-08-21T10:00:20Z</sampleInfoCSV><value><id><counterId>1</counterId><instance/></id><value>1,2,3</value></value></returnval>"#,
    );
    let (_, err) = slice(d.as_bytes());
    assert!(
        matches!(&err, Some(PerfParseError::Malformed(m)) if m.contains("3 values for 1 timestamps")),
        "{err:?}"
    );
}

/// One token that never ends (a comment, a text) is refused at the limit instead of being
/// buffered for ever; the slice parser says the same.
#[test]
fn the_pending_buffer_is_bounded() {
    let big = format!("<!--{}-->", "x".repeat(MAX_TOKEN + 10));
    let d = doc(&format!("{NORMAL}{big}"));
    for (got, err) in [stream(d.as_bytes(), 16 << 10), slice(d.as_bytes())] {
        assert_eq!(got.len(), 2, "the entities before it are delivered");
        assert!(
            matches!(&err, Some(PerfParseError::Malformed(m)) if m.contains("longer than 4194304 bytes")),
            "{err:?}"
        );
    }
    // With a small limit, the reader stops reading at the limit (not at the end of the body).
    let endless = doc(&format!("{NORMAL}<!--{}", "x".repeat(1 << 20)));
    let mut r = PerfReader::with_max_token(endless.as_bytes(), 4096);
    futures::executor::block_on(async { while let Ok(Some(_)) = r.next().await {} });
    assert!(
        r.bytes() < 4096 + 64 * 1024 + doc(NORMAL).len() as u64,
        "{}",
        r.bytes()
    );
}

#[test]
fn deep_nesting_is_an_error() {
    let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
    let d = doc(&deep);
    let (_, err) = stream(d.as_bytes(), 4096);
    assert!(
        matches!(&err, Some(PerfParseError::Malformed(m)) if m.contains("nested deeper than 64")),
        "{err:?}"
    );
}

/// A cheap, deterministic cousin of the differential fuzz target (fuzz/): mutated
/// documents (markup characters inserted, bytes dropped, cut short) give the same result
/// streamed in any read size as parsed whole.
#[test]
fn mutated_documents_agree_across_chunkings() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let docs: Vec<Vec<u8>> = tricky_documents()
        .into_iter()
        .map(|(_, d)| d.into_bytes())
        .filter(|d| !d.is_empty())
        .collect();
    const BITS: &[&[u8]] = &[
        b"<",
        b">",
        b"<!",
        b"<!--",
        b"-->",
        b"<![CDATA[",
        b"]]>",
        b"</",
        b"/>",
        b"\"",
        b"'",
        b"<?",
        b"?>",
        b"\xEF\xBB\xBF",
        b"&",
        b"&amp;",
        b" ",
        b"<!DOCTYPE",
        b"</returnval>",
        b"<value>",
        b"</value>",
        b",",
        b"-1",
    ];
    for _ in 0..600 {
        let mut d = docs[rand(docs.len())].clone();
        for _ in 0..1 + rand(4) {
            let at = rand(d.len() + 1);
            match rand(3) {
                0 => {
                    let b = BITS[rand(BITS.len())];
                    d.splice(at..at, b.iter().copied());
                }
                1 if at < d.len() => {
                    let end = (at + 1 + rand(8)).min(d.len());
                    d.drain(at..end);
                }
                _ => d.truncate(at.max(1)),
            }
        }
        let want = slice(&d);
        for size in [1, 2, 3, 5, 8, 13, 64, 1000] {
            assert_eq!(
                stream(&d, size),
                want,
                "reads of {size}: {:?}",
                String::from_utf8_lossy(&d)
            );
        }
    }
}

/// CPU time of this thread, in seconds.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux knows.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// The catch-up answer of benches/parse.rs (`catchup_host_hour`, one host, an hour, every
/// instance: 8.6 MB in one `<returnval>`) in reads of 64 KB, 16 KB and 1 KB must cost about
/// what one read costs. A quick check for any build profile; the criterion bench has the
/// figures. `cargo nextest run --lib --run-ignored only -E 'test(catchup)' --no-capture`
#[test]
#[ignore = "a measurement: prints CPU time per read size"]
fn catchup_is_linear_in_the_answer_size() {
    let mut d = String::from(ENV_START);
    d.push_str(r#"<returnval><entity type="HostSystem">host-1</entity>"#);
    for i in 0..180 {
        d.push_str(&format!(
            "<sampleInfo><timestamp>{}</timestamp><interval>20</interval></sampleInfo>",
            format_time(T0 + 20 * i)
        ));
    }
    for c in 0..60 {
        for inst in 0..40 {
            d.push_str(&format!(
                "<value><id><counterId>{c}</counterId><instance>vmhba{inst}</instance></id>"
            ));
            for s in 0..180 {
                d.push_str(&format!(
                    "<value>{}</value>",
                    (c * 7919 + inst * 104_729 + s * 31) % 100_000
                ));
            }
            d.push_str("</value>");
        }
    }
    d.push_str("</returnval>");
    d.push_str(ENV_END);
    let t = thread_cpu();
    let (want, err) = slice(d.as_bytes());
    assert_eq!(err, None);
    let whole = thread_cpu() - t;
    println!("{} bytes, slice: {whole:.3} s CPU", d.len());
    for size in [64 << 10, 16 << 10, 1 << 10] {
        let t = thread_cpu();
        let got = stream(d.as_bytes(), size);
        let cpu = thread_cpu() - t;
        assert_eq!(got, (want.clone(), None));
        println!(
            "reads of {size}: {cpu:.3} s CPU ({:.2}x the slice)",
            cpu / whole
        );
        assert!(
            cpu < 3.0 * whole + 0.05,
            "reads of {size}: {cpu} s against {whole} s"
        );
    }
}

#[test]
fn a_start_tag_with_attributes_ends_at_its_first_unquoted_gt() {
    let f = start_tag_with_attributes;
    assert_eq!(f(br#"<value xsi:type="X">1"#), Some((&b"value"[..], 20)));
    assert_eq!(f(br#"<value a='>' b="'>">"#), Some((&b"value"[..], 20)));
    assert_eq!(f(br#"<value xsi:type="X"/>"#), None, "self-closing");
    assert_eq!(f(br#"<value xsi:type="X""#), None, "cut off");
    assert_eq!(f(b"<value>"), None, "no attributes: bare_tag's case");
    assert_eq!(f(b"</value >"), None);
    assert_eq!(f(br#"<value a="<">"#), Some((&b"value"[..], 13)));
    assert_eq!(f(br#"<value a=b<c>"#), None, "markup inside the tag");
}

/// The series' start tags, taken without quick-xml, give what quick-xml's events give:
/// whatever their attributes hold (quoted `>`, other keys, other quotes).
#[test]
fn series_attributes_do_not_change_what_is_parsed() {
    let plain = |d: &str| d.replace(r#" xsi:type="PerfMetricIntSeries""#, "");
    let tricky = NORMAL.replace(
        r#"<value xsi:type="PerfMetricIntSeries">"#,
        r#"<value xsi:type='PerfMetricIntSeries' note="a > b" x='"'>"#,
    );
    let want = slice(doc(&plain(NORMAL)).as_bytes());
    assert!(want.1.is_none() && want.0.len() == 2, "{want:?}");
    assert_eq!(slice(doc(NORMAL).as_bytes()), want);
    assert_eq!(slice(doc(&tricky).as_bytes()), want);
    for size in [1, 7, 64, usize::MAX] {
        assert_eq!(
            stream(doc(&tricky).as_bytes(), size),
            want,
            "reads of {size}"
        );
    }
}
