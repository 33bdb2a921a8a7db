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
