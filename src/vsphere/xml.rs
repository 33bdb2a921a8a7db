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

/// A qualified name's local part (`vim25:obj` → `obj`).
pub(crate) fn local_bytes(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

fn local(name: &[u8]) -> String {
    String::from_utf8_lossy(local_bytes(name)).into_owned()
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
    // Most elements with attributes have one (`xsi:type`); a pushed list holds four.
    attrs.shrink_to_fit();
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
    parse_with(doc, None, Nothing)
}

/// [`parse`] with the elements named `split.1` at depth `split.0` (the root at 0) handed to
/// `capture` instead of kept, as [`parse_stream_with`] does from a stream (for the fuzz
/// targets and the tests, which compare the two readings of one document).
pub(crate) fn parse_with<C: Capture>(
    doc: &[u8],
    split: Option<(usize, &str)>,
    capture: C,
) -> Result<Node, String> {
    let mut reader = Reader::from_reader(doc);
    let mut tree = Tree::new(split, capture);
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| format!("at byte {}: {e}", reader.error_position()))?;
        if let Some(root) = tree.event(ev)? {
            return Ok(root);
        }
    }
}

/// Takes the events of each split element instead of the tree (see [`parse_stream_with`]):
/// its start, everything inside, its end, in document order. The tree still checks the
/// whole document (balanced tags, [`MAX_DEPTH`], [`MAX_NODES`]) around it.
pub(crate) trait Capture {
    /// One event of a split element; an error makes the document malformed.
    fn event(&mut self, ev: &Event<'_>) -> Result<(), String>;
}

/// No element is split off.
pub(crate) struct Nothing;

impl Capture for Nothing {
    fn event(&mut self, _: &Event<'_>) -> Result<(), String> {
        Ok(())
    }
}

/// Each split element built as a [`Node`] and handed to `out` (see [`parse_stream`]).
#[cfg(test)]
struct Nodes<F> {
    tree: Tree<'static, Nothing>,
    out: F,
}

#[cfg(test)]
impl<F: FnMut(Node)> Capture for Nodes<F> {
    fn event(&mut self, ev: &Event<'_>) -> Result<(), String> {
        if let Some(node) = self.tree.event(ev.borrow())? {
            (self.out)(node);
        }
        Ok(())
    }
}

/// Parses a document as it arrives from `input`, like [`parse`], except that each element
/// named `split.1` closing at depth `split.0` (the root is at depth 0) goes to `out` instead
/// of into its parent: neither the whole body nor the whole tree is ever held. Errors:
/// `Ok(Err(_))` as [`parse`] says them; `Err(_)` a failed read. (The tests' reference for
/// [`parse_stream_with`].)
#[cfg(test)]
pub(crate) async fn parse_stream<R, F>(
    input: R,
    split: (usize, &str),
    out: F,
) -> Result<Result<Node, String>, std::io::Error>
where
    R: tokio::io::AsyncBufRead + Unpin,
    F: FnMut(Node),
{
    let nodes = Nodes {
        tree: Tree::new(None, Nothing),
        out,
    };
    parse_stream_with(input, split, nodes).await
}

/// [`parse_stream`] with the split elements' events handed to `capture`, which reads them
/// without building their tree: a property collector page's thousands of `objects` become
/// the caller's compact values one by one (at 10,000 VMs in one page, the tree of their
/// values alone was a quarter of a million elements, 24 MB, held until the inventory was
/// resolved).
pub(crate) async fn parse_stream_with<R, C>(
    input: R,
    split: (usize, &str),
    capture: C,
) -> Result<Result<Node, String>, std::io::Error>
where
    R: tokio::io::AsyncBufRead + Unpin,
    C: Capture,
{
    let mut reader = Reader::from_reader(input);
    let mut tree = Tree::new(Some(split), capture);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let ev = match reader.read_event_into_async(&mut buf).await {
            Ok(ev) => ev,
            Err(quick_xml::Error::Io(e)) => return Err(std::io::Error::new(e.kind(), e)),
            Err(e) => return Ok(Err(format!("at byte {}: {e}", reader.error_position()))),
        };
        match tree.event(ev) {
            Ok(Some(root)) => return Ok(Ok(root)),
            Ok(None) => {}
            Err(e) => return Ok(Err(e)),
        }
    }
}

/// The element tree under construction, fed one event at a time by [`parse`] and
/// [`parse_stream`], within [`MAX_DEPTH`] and [`MAX_NODES`]; the split elements' events go
/// to the capture.
pub(crate) struct Tree<'a, C> {
    stack: Vec<Node>,
    nodes: usize,
    split: Option<(usize, &'a str)>,
    /// The local names of the open elements of the split element being captured, one after
    /// the other (where each ends in `ends`): for the error of a document ending inside one.
    inside: Vec<u8>,
    ends: Vec<usize>,
    capture: C,
}

impl<'a, C: Capture> Tree<'a, C> {
    fn new(split: Option<(usize, &'a str)>, capture: C) -> Self {
        Tree {
            stack: Vec::new(),
            nodes: 0,
            split,
            inside: Vec::new(),
            ends: Vec::new(),
            capture,
        }
    }

    fn count(&mut self) -> Result<(), String> {
        self.nodes += 1;
        if self.stack.len() + self.ends.len() >= MAX_DEPTH {
            return Err(format!("elements nested deeper than {MAX_DEPTH}"));
        }
        if self.nodes > MAX_NODES {
            return Err(format!("more than {MAX_NODES} elements"));
        }
        Ok(())
    }

    /// Whether an element starting here is a split one (or inside one).
    fn captures(&self, e: &BytesStart<'_>) -> bool {
        !self.ends.is_empty()
            || self.split.is_some_and(|(d, name)| {
                d == self.stack.len() && local_bytes(e.name().as_ref()) == name.as_bytes()
            })
    }

    /// Takes one event; returns the root once it is complete.
    fn event(&mut self, ev: Event<'_>) -> Result<Option<Node>, String> {
        match ev {
            Event::Start(ref e) => {
                self.count()?;
                if self.captures(e) {
                    self.inside
                        .extend_from_slice(local_bytes(e.name().as_ref()));
                    self.ends.push(self.inside.len());
                    self.capture.event(&ev)?;
                } else {
                    self.stack.push(element(e)?);
                }
            }
            Event::Empty(ref e) => {
                self.count()?;
                if self.captures(e) {
                    self.capture.event(&ev)?;
                } else {
                    return Ok(self.close(element(e)?));
                }
            }
            Event::Text(_) | Event::CData(_) | Event::End(_) if !self.ends.is_empty() => {
                if matches!(ev, Event::End(_)) {
                    self.ends.pop();
                    self.inside.truncate(self.ends.last().copied().unwrap_or(0));
                }
                self.capture.event(&ev)?;
            }
            Event::Text(t) => {
                if let Some(top) = self.stack.last_mut() {
                    let s = t.unescape().map_err(|e| e.to_string())?;
                    top.text.push_str(&s);
                }
            }
            Event::CData(t) => {
                if let Some(top) = self.stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::End(_) => {
                let mut node = self.stack.pop().ok_or("unbalanced end tag")?;
                // A closed element's lists grow no more: their spare capacity (up to half,
                // and 4 slots for a property's 2 children) would be a third of the tree.
                node.children.shrink_to_fit();
                node.text.shrink_to_fit();
                return Ok(self.close(node));
            }
            Event::Eof => {
                let inner = self.ends.len().checked_sub(2).map_or(0, |i| self.ends[i]);
                return Err(match self.stack.last() {
                    _ if !self.ends.is_empty() => format!(
                        "document ended inside <{}>",
                        String::from_utf8_lossy(&self.inside[inner..])
                    ),
                    Some(n) => format!("document ended inside <{}>", n.name),
                    None => "empty document".to_string(),
                });
            }
            _ => {}
        }
        Ok(None)
    }

    /// A complete element: into its parent; the root is returned.
    fn close(&mut self, node: Node) -> Option<Node> {
        match self.stack.last_mut() {
            Some(parent) => parent.children.push(node),
            None => return Some(node),
        }
        None
    }
}

impl Tree<'static, Nothing> {
    /// A tree whose root element is already open (`root`, its attributes and the text read
    /// so far): a property value read as a leaf until its first child element arrives.
    pub(crate) fn open(root: Node) -> Self {
        let mut t = Tree::new(None, Nothing);
        t.nodes = 1;
        t.stack.push(root);
        t
    }

    /// Takes one event of the open root's inside, or its end; returns the root once it is
    /// complete.
    pub(crate) fn feed(&mut self, ev: &Event<'_>) -> Result<Option<Node>, String> {
        self.event(ev.borrow())
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

    /// The streaming parser gives the tree `parse` gives, whatever the read size, with the
    /// split elements handed out in order instead of kept; a truncated or malformed stream
    /// fails as `parse` does.
    #[tokio::test]
    async fn the_stream_parser_splits_what_parse_keeps() {
        let doc = br#"<E><B><R><rv><o n="1">a<v>x&amp;y</v></o><o n="2"/><t>tok</t><o n="3"><o/></o></rv></R></B></E>"#;
        let whole = parse(doc).unwrap();
        for chunk in [1, 3, 7, doc.len()] {
            let input = tokio::io::BufReader::with_capacity(chunk, &doc[..]);
            let mut got = Vec::new();
            let rest = parse_stream(input, (4, "o"), |n| got.push(n))
                .await
                .unwrap()
                .unwrap();
            let rv = whole.path(&["B", "R", "rv"]).unwrap();
            let split: Vec<_> = rv.children_named("o").cloned().collect();
            assert_eq!(got, split, "chunk {chunk}");
            assert_eq!(rest.text_at(&["B", "R", "rv", "t"]), Some("tok"));
            assert_eq!(rest.path(&["B", "R", "rv"]).unwrap().children.len(), 1);
        }
        for cut in [32, 40, 47] {
            let err = parse_stream(&doc[..cut], (4, "o"), |_| {}).await.unwrap();
            assert_eq!(
                err,
                parse(&doc[..cut]).map(|_| Node::default()),
                "cut at {cut}"
            );
        }
        let err = parse_stream(&doc[..32], (4, "o"), |_| {}).await.unwrap();
        assert!(err.unwrap_err().contains("ended inside <v>"));
        assert!(parse_stream(&b"<a></b>"[..], (1, "x"), |_| {})
            .await
            .unwrap()
            .is_err());
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
    }
}
