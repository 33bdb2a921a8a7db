use super::*;
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Float(f64),
    Int(i64),
    Str(String),
    Bool(bool),
}

#[derive(Debug, PartialEq)]
struct Line {
    measurement: String,
    tags: Vec<(String, String)>,
    fields: Vec<(String, Value)>,
    ts: i64,
}

/// A reference parser for the rules documented in `line.rs` (InfluxDB 1.x's reading): in
/// names, a backslash before a character escaped in that element stands for that character;
/// any other backslash is literal.
struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// A name up to one of `stops` (unescaped); `escapable` are the escaped characters.
    fn name(&mut self, escapable: &[u8], stops: &[u8]) -> String {
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            if c == b'\\' {
                match self.b.get(self.i + 1) {
                    Some(&n) if escapable.contains(&n) => {
                        out.push(n);
                        self.i += 2;
                    }
                    _ => {
                        out.push(b'\\');
                        self.i += 1;
                    }
                }
                continue;
            }
            assert!(c != b'\n', "unescaped newline in a name at {}", self.i);
            if stops.contains(&c) {
                break;
            }
            out.push(c);
            self.i += 1;
        }
        String::from_utf8(out).expect("utf-8 name")
    }

    fn expect(&mut self, c: u8) {
        assert_eq!(
            self.peek(),
            Some(c),
            "expected {:?} at {}",
            c as char,
            self.i
        );
        self.i += 1;
    }

    fn value(&mut self) -> Value {
        if self.peek() == Some(b'"') {
            self.i += 1;
            let mut out = Vec::new();
            loop {
                match self.peek().expect("unterminated string") {
                    b'\\' => {
                        let n = self.b[self.i + 1];
                        assert!(n == b'"' || n == b'\\', "bad string escape");
                        out.push(n);
                        self.i += 2;
                    }
                    b'"' => {
                        self.i += 1;
                        break;
                    }
                    c => {
                        out.push(c);
                        self.i += 1;
                    }
                }
            }
            return Value::Str(String::from_utf8(out).unwrap());
        }
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == b',' || c == b' ' {
                break;
            }
            self.i += 1;
        }
        let s = std::str::from_utf8(&self.b[start..self.i]).unwrap();
        match s {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ if s.ends_with('i') => Value::Int(s[..s.len() - 1].parse().expect("int")),
            _ => {
                assert!(
                    s.bytes()
                        .all(|c| c.is_ascii_digit() || b"-+.e".contains(&c)),
                    "float {s:?}"
                );
                Value::Float(s.parse().expect("float"))
            }
        }
    }

    fn line(&mut self) -> Line {
        let measurement = self.name(b", ", b", ");
        assert!(!measurement.is_empty());
        let mut tags = Vec::new();
        while self.peek() == Some(b',') {
            self.i += 1;
            let k = self.name(b",= ", b"=");
            self.expect(b'=');
            let v = self.name(b",= ", b", ");
            assert!(!k.is_empty() && !v.is_empty());
            tags.push((k, v));
        }
        self.expect(b' ');
        let mut fields = Vec::new();
        loop {
            let k = self.name(b",= ", b"=");
            assert!(!k.is_empty());
            self.expect(b'=');
            fields.push((k, self.value()));
            if self.peek() == Some(b',') {
                self.i += 1;
            } else {
                break;
            }
        }
        self.expect(b' ');
        let start = self.i;
        while self.peek().is_some_and(|c| c == b'-' || c.is_ascii_digit()) {
            self.i += 1;
        }
        let ts = std::str::from_utf8(&self.b[start..self.i])
            .unwrap()
            .parse()
            .unwrap();
        self.expect(b'\n');
        Line {
            measurement,
            tags,
            fields,
            ts,
        }
    }
}

fn parse_all(b: &[u8]) -> Vec<Line> {
    let mut p = Parser { b, i: 0 };
    let mut out = Vec::new();
    while p.i < b.len() {
        out.push(p.line());
    }
    out
}

/// What a name reads back as: control characters become spaces, a backslash before an
/// escaped character (`escapable`), a control character or the end becomes `/`.
fn expect_name(s: &str, escapable: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let special = |c: Option<&char>| match c {
        None => true,
        Some(&c) => (c as u32) < 0x20 || escapable.contains(c),
    };
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| match c {
            _ if (c as u32) < 0x20 => ' ',
            '\\' if special(chars.get(i + 1)) => '/',
            _ => c,
        })
        .collect()
}

const KEYS: &str = ",= ";

fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c ,=\"\\\\\n\r\t#é😀\\x00]{0,10}",
        any::<String>(),
        "[a-z_]{1,12}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<f64>().prop_map(Value::Float),
        any::<i64>().prop_map(Value::Int),
        nasty().prop_map(Value::Str),
        any::<bool>().prop_map(Value::Bool),
    ]
}

fn build(
    buf: &mut Vec<u8>,
    m: &str,
    tags: &[(String, String)],
    fields: &[(String, Value)],
    ts: i64,
) -> bool {
    let mut b = LineBuilder::new(buf, m);
    for (k, v) in tags {
        b = b.tag(k, v);
    }
    let mut it = fields.iter();
    let Some((k, v)) = it.next() else {
        return false;
    };
    let mut f = match v {
        Value::Float(x) => b.field_f64(k, *x),
        Value::Int(x) => b.field_i64(k, *x),
        Value::Str(x) => b.field_str(k, x),
        Value::Bool(x) => b.field_bool(k, *x),
    };
    for (k, v) in it {
        f = match v {
            Value::Float(x) => f.field_f64(k, *x),
            Value::Int(x) => f.field_i64(k, *x),
            Value::Str(x) => f.field_str(k, x),
            Value::Bool(x) => f.field_bool(k, *x),
        };
    }
    f.finish(ts)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn built_lines_parse_back(
        prefix in prop::bool::ANY,
        m in nasty(),
        tags in prop::collection::vec((nasty(), nasty()), 0..5),
        fields in prop::collection::vec((nasty(), value()), 0..5),
        ts in any::<i64>(),
    ) {
        let mut buf = Vec::new();
        if prefix {
            assert!(LineBuilder::new(&mut buf, "pre").field_i64("x", 1).finish(7));
        }
        let before = buf.clone();
        let written = build(&mut buf, &m, &tags, &fields, ts);

        let want_tags: Vec<_> = tags
            .iter()
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .map(|(k, v)| (expect_name(k, KEYS), expect_name(v, KEYS)))
            .collect();
        let want_fields: Vec<_> = fields
            .iter()
            .filter(|(k, v)| !k.is_empty() && !matches!(v, Value::Float(f) if !f.is_finite()))
            .map(|(k, v)| (expect_name(k, KEYS), v.clone()))
            .collect();
        let should = !m.is_empty() && !want_fields.is_empty();
        prop_assert_eq!(written, should);
        if !should {
            prop_assert_eq!(&buf, &before, "nothing is left of a line that was not written");
            return Ok(());
        }
        let mut lines = parse_all(&buf);
        prop_assert_eq!(lines.len(), 1 + prefix as usize);
        let got = lines.pop().unwrap();
        prop_assert_eq!(got, Line { measurement: expect_name(&m, ", "), tags: want_tags, fields: want_fields, ts });
    }

    #[test]
    fn floats_are_written_as_ryu_writes_them(
        v in prop_oneof![
            any::<f64>(),
            any::<i64>().prop_map(|i| i as f64),
            any::<f32>().prop_map(f64::from),
            (-2e15f64..2e15).prop_map(f64::trunc),
            Just(-0.0),
            Just(1e15),
            Just(999_999_999_999_999.0),
        ].prop_filter("finite", |v| v.is_finite())
    ) {
        let mut out = Vec::new();
        write_f64(v, &mut out);
        let mut ryu = ryu::Buffer::new();
        prop_assert_eq!(std::str::from_utf8(&out).unwrap(), ryu.format_finite(v));
    }

    #[test]
    fn names_never_contain_a_raw_newline_or_tab(s in nasty()) {
        for f in [escape_measurement, escape_key, escape_tag_value] {
            let mut out = Vec::new();
            f(&s, &mut out);
            prop_assert!(!out.iter().any(|&c| c < 0x20));
        }
    }
}

fn esc(f: fn(&str, &mut Vec<u8>), s: &str) -> String {
    let mut out = Vec::new();
    f(s, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn escaping_examples() {
    assert_eq!(esc(escape_measurement, "vsphere_vm_cpu"), "vsphere_vm_cpu");
    assert_eq!(esc(escape_measurement, "a b,c=d"), r"a\ b\,c=d");
    assert_eq!(esc(escape_key, "a b,c=d"), r"a\ b\,c\=d");
    assert_eq!(
        esc(escape_tag_value, "line1\nline2\r\tx"),
        r"line1\ line2\ \ x"
    );
    assert_eq!(esc(escape_tag_value, r"C:\temp"), r"C:\temp");
    assert_eq!(esc(escape_tag_value, r"ends\"), r"ends/");
    assert_eq!(esc(escape_tag_value, r"a\,b"), r"a/\,b");
    assert_eq!(esc(escape_tag_value, r"a\\b"), r"a\\b");
    assert_eq!(esc(escape_tag_value, r"a\\ b"), r"a\/\ b");
    assert_eq!(esc(escape_key, "a\\\n"), r"a/\ ");
    assert_eq!(esc(escape_measurement, r"a\=b"), r"a\=b");
    assert_eq!(
        esc(write_str, "say \"hi\" \\ \n"),
        "\"say \\\"hi\\\" \\\\ \n\""
    );
}

#[test]
fn numbers() {
    let mut b = Vec::new();
    assert!(LineBuilder::new(&mut b, "m")
        .field_f64("a", 1.0)
        .field_f64("b", 0.1)
        .field_f64("c", -0.0)
        .field_f64("d", 1e300)
        .field_f64("e", 5e-324)
        .field_i64("f", i64::MIN)
        .field_i64("g", 0)
        .finish(-1));
    assert_eq!(
        std::str::from_utf8(&b).unwrap(),
        "m a=1.0,b=0.1,c=-0.0,d=1e300,e=5e-324,f=-9223372036854775808i,g=0i -1\n"
    );
}

#[test]
fn lines_without_fields_or_measurement_are_not_written() {
    let mut b = b"keep\n".to_vec();
    assert!(!LineBuilder::new(&mut b, "m")
        .tag("t", "v")
        .field_f64("x", f64::NAN)
        .field_f64("y", f64::INFINITY)
        .field_i64("", 3)
        .finish(1));
    assert!(!LineBuilder::new(&mut b, "").field_i64("x", 1).finish(1));
    {
        // Dropped before finish: nothing stays.
        let _ = LineBuilder::new(&mut b, "m")
            .tag("t", "v")
            .field_i64("x", 1);
    }
    assert_eq!(b, b"keep\n");
}

#[test]
fn empty_tags_are_omitted() {
    let mut b = Vec::new();
    assert!(LineBuilder::new(&mut b, "m")
        .tag("a", "")
        .tag("", "v")
        .tag("b", "x")
        .field_bool("ok", true)
        .finish(5));
    assert_eq!(b, b"m,b=x ok=true 5\n");
}
