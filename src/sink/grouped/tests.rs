//! The fast path (src/sink/line_read.rs, this module, the hand-assembled protobuf) against
//! the general one (influxdb-line-protocol and prost's types) on what the encoder writes:
//! whenever the general parser reads a batch, both outputs' messages decode to exactly what
//! the general conversion builds. Bad input is an error, never a panic.

use proptest::prelude::*;

use crate::sink::line::LineBuilder;
use crate::sink::{otlp, remote_write, Precision};

#[derive(Debug, Clone)]
enum V {
    F(f64),
    I(i64),
    S(String),
    B(bool),
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z_]{1,12}",
        2 => "[a-c ,=\"\\\\\n\t#é😀.:-]{0,8}",
        1 => any::<String>(),
    ]
}

fn value() -> impl Strategy<Value = V> {
    prop_oneof![
        any::<f64>().prop_map(V::F),
        (-3.0e6..3.0e6f64).prop_map(V::F),
        any::<i64>().prop_map(V::I),
        name().prop_map(V::S),
        any::<bool>().prop_map(V::B),
    ]
}

/// Series reused across lines (as the collector writes them: one line per sample time).
fn batch() -> impl Strategy<Value = Vec<u8>> {
    let series = prop::collection::vec(
        (
            // Not a name starting with `#`: the line would be a comment, which line.rs
            // leaves to its callers (their measurements are fixed names); the two readers
            // then disagree on where it ends (a string field's newline), and the builder
            // makes no promise there.
            prop_oneof![
                3 => Just("vsphere_vm_cpu".to_string()),
                1 => name().prop_filter("a comment line", |m| !m.starts_with('#')),
            ],
            prop::collection::vec(
                (prop_oneof![Just("vcenter".to_string()), name()], name()),
                0..5,
            ),
        ),
        1..5,
    );
    let lines = prop::collection::vec(
        (
            0usize..5,
            prop::collection::vec(
                (
                    prop_oneof![Just("usage_average".to_string()), name()],
                    value(),
                ),
                1..5,
            ),
            prop_oneof![0i64..4_000_000_000, any::<i64>()],
        ),
        1..12,
    );
    (series, lines).prop_map(|(series, lines)| {
        let mut buf = Vec::new();
        for (s, fields, ts) in lines {
            let (m, tags) = &series[s % series.len()];
            let mut b = LineBuilder::new(&mut buf, m);
            for (k, v) in tags {
                b = b.tag(k, v);
            }
            let mut it = fields.iter();
            let Some((k, v)) = it.next() else { continue };
            let mut f = match v {
                V::F(x) => b.field_f64(k, *x),
                V::I(x) => b.field_i64(k, *x),
                V::S(x) => b.field_str(k, x),
                V::B(x) => b.field_bool(k, *x),
            };
            for (k, v) in it {
                f = match v {
                    V::F(x) => f.field_f64(k, *x),
                    V::I(x) => f.field_i64(k, *x),
                    V::S(x) => f.field_str(k, x),
                    V::B(x) => f.field_bool(k, *x),
                };
            }
            f.finish(ts);
        }
        buf
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn remote_write_agrees_with_the_general_conversion(lp in batch()) {
        let text = std::str::from_utf8(&lp).expect("the builder writes UTF-8");
        let Ok((want, strings)) = remote_write::general::to_write_request(text) else {
            // The general parser refuses a few names the writer emits (a NUL, `\\`): only
            // what it reads is compared.
            let _ = remote_write::encode(&lp);
            return Ok(());
        };
        // A fresh encoder, then the same one again with every series in its cache.
        let mut enc = remote_write::Encoder::default();
        for _ in 0..2 {
            let e = enc.encode(&lp, Precision::Seconds).expect("the fast path reads what the general one does");
            let raw = snap::raw::Decoder::new().decompress_vec(&e.body).expect("snappy");
            let got: remote_write::WriteRequest = prost::Message::decode(raw.as_slice()).expect("protobuf");
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(e.strings_skipped, strings);
            prop_assert_eq!(e.series, want.timeseries.len());
            prop_assert_eq!(e.samples, want.timeseries.iter().map(|t| t.samples.len()).sum::<usize>());
        }
    }

    #[test]
    fn otlp_agrees_with_the_general_conversion(lp in batch(), host in prop::option::of("[a-z]{1,8}")) {
        let text = std::str::from_utf8(&lp).expect("the builder writes UTF-8");
        let Ok((want, strings)) = otlp::general::to_request(text, host.as_deref()) else {
            let _ = otlp::encode(&lp, host.as_deref());
            return Ok(());
        };
        let mut enc = otlp::Encoder::new(otlp::Names::Telegraf);
        for _ in 0..2 {
            let e = enc.encode(&lp, host.as_deref(), Precision::Seconds).expect("the fast path reads what the general one does");
            let got: opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest =
                prost::Message::decode(e.body.as_slice()).expect("protobuf");
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(e.strings_skipped, strings);
        }
    }

    #[test]
    fn bad_input_is_an_error_never_a_panic(
        lp in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            "[a-c ,=\"\\\\\n\t#0-9.ie-]{0,80}".prop_map(String::into_bytes),
        ],
    ) {
        let _ = remote_write::encode(&lp);
        let _ = otlp::encode(&lp, None);
    }

    #[test]
    fn a_damaged_batch_is_an_error_never_a_panic(
        lp in batch(),
        cut in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut lp = lp;
        if lp.is_empty() {
            return Ok(());
        }
        let i = cut.index(lp.len());
        lp[i] = byte;
        let _ = remote_write::encode(&lp);
        let _ = otlp::encode(&lp, Some("n"));
    }
}

#[test]
fn the_two_raw_forms_of_a_backslash_are_one_series() {
    // `a\\b` and `a\b` both read as `a\b`: one series, as the general parser groups them.
    let lp = b"m,t=a\\\\b f=1 1\nm,t=a\\b f=2 2\n";
    let e = remote_write::encode(lp).unwrap();
    assert_eq!((e.series, e.samples), (1, 2));
}

#[test]
fn an_encoder_kept_between_batches_sends_each_batch_as_a_fresh_one_does() {
    // Series met before, new series, a series with a new field, a batch of none of them.
    let batches: [&[u8]; 4] = [
        b"m,t=a f=1 1\nm,t=b f=2,g=3i 1\n",
        b"m,t=b g=4i 2\nm,t=c f=5 2\nm,t=a f=6,h=7 2\n",
        b"n,t=a f=8 3\n",
        b"m,t=a f=9 4\nm,t=b f=10 4\n",
    ];
    let mut rw = remote_write::Encoder::default();
    let mut ot = otlp::Encoder::new(otlp::Names::Telegraf);
    for lp in batches {
        let unsnap = |b: &[u8]| snap::raw::Decoder::new().decompress_vec(b).unwrap();
        let kept = rw.encode(lp, Precision::Seconds).unwrap();
        let fresh = remote_write::encode(lp).unwrap();
        assert_eq!(unsnap(&kept.body), unsnap(&fresh.body), "{lp:?}");
        assert_eq!((kept.series, kept.samples), (fresh.series, fresh.samples));
        let kept = ot.encode(lp, Some("n"), Precision::Seconds).unwrap();
        assert_eq!(
            kept.body,
            otlp::encode(lp, Some("n")).unwrap().body,
            "{lp:?}"
        );
    }
}

#[test]
fn local_ids_follow_first_appearance_in_each_batch() {
    let mut l = super::Local::default();
    l.start();
    assert_eq!(l.id(7), (0, true));
    assert_eq!(l.id(3), (1, true));
    assert_eq!(l.id(7), (0, false));
    assert_eq!(l.order, [7, 3]);
    l.start();
    assert_eq!(l.id(3), (0, true), "a new batch numbers afresh");
    assert_eq!(l.order, [3]);
}

#[test]
fn runs_keep_each_keys_points_in_order() {
    let mut r = super::Runs::default();
    r.sort(&[2, 0, 2, 1, 0], 3);
    assert_eq!(
        (r.run(0), r.run(1), r.run(2)),
        (&[1, 4][..], &[3][..], &[0, 2][..])
    );
    r.sort(&[0], 2);
    assert_eq!((r.run(0), r.run(1)), (&[0][..], &[][..]));
}
