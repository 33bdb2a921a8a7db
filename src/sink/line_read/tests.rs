use super::*;

type Read = Vec<(Vec<u8>, Vec<(Vec<u8>, String)>, Option<i64>)>;

fn read_all(lp: &[u8]) -> Result<Read, ReadError> {
    let mut r = Reader::new(lp);
    let mut fields = Vec::new();
    let mut out = Vec::new();
    while let Some(line) = r.next_line(&mut fields) {
        let line = line?;
        let f = fields
            .iter()
            .map(|(k, v)| (k.to_vec(), format!("{v:?}")))
            .collect();
        out.push((line.series.to_vec(), f, line.timestamp));
    }
    Ok(out)
}

#[test]
fn reads_series_fields_and_timestamps() {
    let lp = b"m,a=1,b=x\\ y f=1.5,g=-2i,h=3u,s=\"q\\\"\nz\",t=true 17\n\n# comment\nm2 v=F\n";
    let got = read_all(lp).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, b"m,a=1,b=x\\ y");
    assert_eq!(
        got[0].1.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>(),
        vec![
            "F64(1.5)",
            "I64(-2)",
            "U64(3)",
            "Str([113, 92, 34, 10, 122])",
            "Bool(true)"
        ]
    );
    assert_eq!(got[0].2, Some(17));
    assert_eq!(got[1].2, None);
    assert_eq!(got[1].1[0].1, "Bool(false)");
}

#[test]
fn names_unescape_as_the_general_parser_does() {
    assert_eq!(unescape(b"a\\ b\\,c\\=d", Element::Key).unwrap(), "a b,c=d");
    assert_eq!(
        unescape(b"a\\=d\\\\e", Element::Measurement).unwrap(),
        "a\\=d\\e"
    );
    assert_eq!(unescape(b"C:/x\\y", Element::Key).unwrap(), "C:/x\\y");
    let (m, tags) = split_series(b"m\\,x,k\\=1=v\\,2,b=c").unwrap();
    assert_eq!(m, b"m\\,x");
    assert_eq!(
        tags,
        vec![(&b"k\\=1"[..], &b"v\\,2"[..]), (&b"b"[..], &b"c"[..])]
    );
}

#[test]
fn bad_lines_are_errors_naming_the_line_and_the_cause() {
    for (lp, what) in [
        (&b"m f=1 1\nnot line protocol\n"[..], "line 2"),
        (b"m\n", "no fields"),
        (b"m f 1\n", "no key=value"),
        (b"m f=abc 1\n", "not a number"),
        (b"m f=1.5x 1\n", "not a number"),
        (b"m f=NaN 1\n", "not a number"),
        (b"m f=\"open 1\n", "no closing quote"),
        (b"m f=1 12x\n", "not an integer"),
        (b"m\\", "ends with a backslash"),
        (b"m f=1\"x 1", "not a number"),
    ] {
        let e = read_all(lp).unwrap_err();
        assert!(e.to_string().contains(what), "{lp:?}: {e}");
    }
    assert!(split_series(b",a=b").is_err());
    assert!(split_series(b"m,a").is_err());
    assert!(split_series(b"m,a=").is_err());
    assert!(split_series(b"m,=b").is_err());
}

proptest::proptest! {
    #[test]
    fn a_field_key_ends_where_the_byte_at_a_time_scan_says(
        b in proptest::collection::vec(
            proptest::prop_oneof![
                4 => proptest::sample::select(b"ab_=, \n\\\x80\xff".to_vec()),
                1 => proptest::prelude::any::<u8>(),
            ],
            0..40,
        ),
        start in 0usize..40,
    ) {
        let start = start.min(b.len());
        let stop = |c| matches!(c, b'=' | b' ' | b',' | b'\n');
        proptest::prop_assert_eq!(scan_field_key(&b, start), scan_name(&b, start, stop));
    }
}

#[test]
fn integers_of_every_length_read_or_overflow_as_they_should() {
    assert_eq!(unsigned(b"0"), Some(0));
    assert_eq!(
        unsigned(b"9999999999999999999"),
        Some(9_999_999_999_999_999_999)
    );
    assert_eq!(unsigned(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(unsigned(b"18446744073709551616"), None);
    assert_eq!(unsigned(b"99999999999999999999"), None);
    assert_eq!(unsigned(b"000000000000000000001"), Some(1));
    assert_eq!(unsigned(b"12a"), None);
    assert_eq!(unsigned(b"1/"), None);
    assert_eq!(unsigned(b""), None);
    assert_eq!(signed(b"-9223372036854775808"), Some(i64::MIN));
    assert_eq!(signed(b"9223372036854775808"), None);
}
