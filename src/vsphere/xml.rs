//! A tiny element tree for the small SOAP answers (service content, login, property
//! collector pages, faults). QueryPerf answers, which can be huge, never go through this: they
//! are parsed as a stream by `perf.rs`.
//!
//! Names are kept as local names (prefix stripped) because vCenter and the simulator use
//! different prefixes for the same namespaces.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// One XML element: local name, attributes (raw qualified keys), text and children.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Node {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows a path of child names.
    pub fn path(&self, names: &[&str]) -> Option<&Node> {
        let mut n = self;
        for name in names {
            n = n.child(name)?;
        }
        Some(n)
    }

    /// The text of the child at `names`, if present.
    pub fn text_at(&self, names: &[&str]) -> Option<&str> {
        self.path(names).map(|n| n.text.as_str())
    }

    /// The attribute with exactly this qualified key (`type` is the MoRef type, not
    /// `xsi:type`).
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of an `xsi:type`, whatever prefix the server bound the namespace to.
    pub fn xsi_type(&self) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k.ends_with(":type"))
            .map(|(_, v)| v.split_once(':').map_or(v.as_str(), |(_, t)| t))
    }
}

fn local(name: &[u8]) -> String {
    let name = match name.iter().rposition(|&b| b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    };
    String::from_utf8_lossy(name).into_owned()
}

fn element(e: &BytesStart<'_>) -> Result<Node, String> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        if key.starts_with("xmlns") {
            continue;
        }
        let value = a.unescape_value().map_err(|e| e.to_string())?.into_owned();
        attrs.push((key, value));
    }
    Ok(Node {
        name: local(e.name().as_ref()),
        attrs,
        ..Node::default()
    })
}

/// The deepest element nesting [`parse`] accepts. The tree's `Clone`, `Drop`, `Debug` and
/// `PartialEq` recurse once per level, so an unbounded depth would let a small hostile
/// answer (7,000 nested tags, 49 KB) overflow a worker thread's stack and abort the process.
/// vSphere answers nest a dozen levels deep (a property collector page: about 10).
pub const MAX_DEPTH: usize = 256;

/// The most elements one parsed document may hold: a node costs about 100 bytes for as
/// little as 4 bytes of input (`<a/>`). A 1,000-object property page is some 50,000.
pub const MAX_NODES: usize = 1 << 20;

/// Parses a whole document into its root element. Errors describe the problem in words
/// (a truncated document is reported as "document ended inside <x>").
pub(crate) fn parse(doc: &[u8]) -> Result<Node, String> {
    let mut reader = Reader::from_reader(doc);
    let mut stack: Vec<Node> = Vec::new();
    let mut nodes = 0usize;
    let mut count = |depth: usize| {
        nodes += 1;
        if depth >= MAX_DEPTH {
            return Err(format!("elements nested deeper than {MAX_DEPTH}"));
        }
        if nodes > MAX_NODES {
            return Err(format!("more than {MAX_NODES} elements"));
        }
        Ok(())
    };
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| format!("at byte {}: {e}", reader.error_position()))?;
        match ev {
            Event::Start(e) => {
                count(stack.len())?;
                stack.push(element(&e)?)
            }
            Event::Empty(e) => {
                count(stack.len())?;
                let node = element(&e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => return Ok(node),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    let s = t.unescape().map_err(|e| e.to_string())?;
                    top.text.push_str(&s);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or("unbalanced end tag")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => return Ok(node),
                }
            }
            Event::Eof => {
                return Err(match stack.last() {
                    Some(n) => format!("document ended inside <{}>", n.name),
                    None => "empty document".to_string(),
                })
            }
            _ => {}
        }
    }
}

/// Escapes a string for XML text or a double-quoted attribute (`& < > " '`).
pub(crate) fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prefixes_attrs_and_text() {
        let n = parse(br#"<?xml version="1.0"?><a:Env xmlns:a="x"><b t="1" x:type="y:Foo">p&amp;q<c/></b></a:Env>"#).unwrap();
        assert_eq!(n.name, "Env");
        let b = n.child("b").unwrap();
        assert_eq!(b.attr("t"), Some("1"));
        assert_eq!(b.xsi_type(), Some("Foo"));
        assert_eq!(b.text, "p&q");
        assert!(b.child("c").is_some());
    }

    #[test]
    fn truncated_and_malformed_are_errors() {
        assert!(parse(b"<a><b>").unwrap_err().contains("ended inside <b>"));
        assert!(parse(b"<a></b>").is_err());
        assert!(parse(b"").is_err());
    }

    /// 7,000 nested elements (49 KB) used to overflow the stack when the tree was cloned or
    /// dropped, aborting the process.
    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let n = 7_000;
        let deep = format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
        let err = parse(deep.as_bytes()).unwrap_err();
        assert!(err.contains("nested deeper than 256"), "{err}");
        // At the limit, the tree is usable, clonable and dropped on half a tokio worker's stack.
        let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || {
                let n = parse(ok.as_bytes()).unwrap();
                let c = n.clone();
                assert_eq!(n, c);
            })
            .unwrap()
            .join()
            .unwrap();
        let wide = "<a>".to_string() + &"<b/>".repeat(MAX_NODES + 1) + "</a>";
        assert!(parse(wide.as_bytes()).unwrap_err().contains("more than"));
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
    }
}
