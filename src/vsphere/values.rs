//! Property values as discovery keeps them, and the reader that builds them from a property
//! collector page's events as each object arrives.
//!
//! Nearly every value of an inventory retrieval is a leaf (`<val xsi:type="xsd:string">vm-1
//! </val>`, a MoRef, an enum): as an element tree it was a node with its name, an attribute
//! list and a text, some 400 bytes in six allocations, and at 10,000 VMs a quarter of a
//! million of them were held until the inventory was resolved (docs/benchmarks.md, "Peak
//! memory"). A leaf is kept here as its trimmed text and its two type attributes, interned;
//! only a value with child elements (a data object, a non-empty array: custom attributes,
//! `guest.net`, the counter catalogue) is still a [`Node`].

use std::sync::Arc;

use quick_xml::events::{BytesStart, Event};

use super::soap::MoRef;
use super::xml::{local_bytes, Capture, Node, Nothing, Tree};

/// One property's value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    /// A value without child elements.
    Leaf(Leaf),
    /// A value with child elements, as the element tree reads it (the `<val>` element).
    Tree(Box<Node>),
}

/// A value without child elements: what [`Node::text`] (trimmed), `attr("type")` and
/// [`Node::xsi_type`] would say of its `<val>` element.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Leaf {
    pub text: Box<str>,
    /// The `type` attribute: a MoRef's type.
    pub ty: Option<Arc<str>>,
    /// The `xsi:type`, prefix stripped.
    pub xsi: Option<Arc<str>>,
}

impl Value {
    /// The value of a `<val>` element read by the tree parser (the compact form of what the
    /// reader below builds from the same bytes).
    pub fn from_node(node: Node, names: &mut Interner) -> Value {
        if !node.children.is_empty() {
            return Value::Tree(Box::new(node));
        }
        Value::Leaf(Leaf {
            text: node.text.trim().into(),
            ty: node.attr("type").map(|t| names.get(t)),
            xsi: node.xsi_type().map(|t| names.get(t)),
        })
    }

    /// The text, trimmed (a tree's own text, outside its children).
    pub fn text(&self) -> &str {
        match self {
            Value::Leaf(l) => &l.text,
            Value::Tree(n) => n.text.trim(),
        }
    }

    /// The value as a MoRef: it has a `type` attribute.
    pub fn moref(&self) -> Option<MoRef> {
        match self {
            Value::Leaf(l) => Some(MoRef::new(l.ty.as_deref()?, &l.text)),
            Value::Tree(n) => MoRef::from_node(n),
        }
    }

    /// The element, for a value with children.
    pub fn tree(&self) -> Option<&Node> {
        match self {
            Value::Tree(n) => Some(n),
            Value::Leaf(_) => None,
        }
    }
}

/// The few distinct strings of a retrieval (property names, MoRef and `xsi` types), shared:
/// one allocation each instead of one per value.
#[derive(Default)]
pub(crate) struct Interner(Vec<Arc<str>>);

/// Past this many distinct strings (a real retrieval has a few dozen), new ones are not
/// kept: a hostile page cannot make every lookup slow.
const MAX_INTERNED: usize = 256;

impl Interner {
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.iter().find(|a| ***a == *s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        if self.0.len() < MAX_INTERNED {
            self.0.push(a.clone());
        }
        a
    }
}

/// One object of a retrieval and its properties (`name` → its value, compact: see
/// [`Value`]).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ObjectContent {
    pub obj: MoRef,
    pub props: Vec<(Arc<str>, Value)>,
}

impl ObjectContent {
    /// An object from its properties' `<val>` elements (the tests' way to make one).
    #[cfg(test)]
    pub fn from_nodes<S: AsRef<str>>(
        obj: MoRef,
        props: impl IntoIterator<Item = (S, Node)>,
    ) -> Self {
        let mut names = Interner::default();
        let props = props
            .into_iter()
            .map(|(n, v)| (names.get(n.as_ref()), Value::from_node(v, &mut names)))
            .collect();
        ObjectContent { obj, props }
    }

    pub fn value(&self, name: &str) -> Option<&Value> {
        self.props
            .iter()
            .find(|(n, _)| **n == *name)
            .map(|(_, v)| v)
    }

    /// A property whose value has child elements (a data object, a non-empty array) as its
    /// `<val>` element; `None` for a single value, an empty array included.
    pub fn prop(&self, name: &str) -> Option<&Node> {
        self.value(name).and_then(Value::tree)
    }

    /// A property's text, if set and non-empty.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.value(name).map(Value::text).filter(|t| !t.is_empty())
    }

    /// A MoRef-valued property.
    pub fn moref(&self, name: &str) -> Option<MoRef> {
        self.value(name).and_then(Value::moref)
    }
}

/// One `objects` element as its object and properties: the first `obj`, and of each
/// `propSet` its first `name` and first `val` (what [`ObjectReader`] reads from the events).
pub(crate) fn object_content(o: Node, names: &mut Interner) -> Option<ObjectContent> {
    let obj = o.child("obj").and_then(MoRef::from_node)?;
    let mut props = Vec::with_capacity(o.children_named("propSet").count());
    props.extend(
        o.children
            .into_iter()
            .filter(|p| p.name == "propSet")
            .filter_map(|p| {
                let mut name = None;
                let mut val = None;
                for c in p.children {
                    match c.name.as_str() {
                        "name" if name.is_none() => name = Some(names.get(c.text.trim())),
                        "val" if val.is_none() => val = Some(c),
                        _ => {}
                    }
                }
                Some((name?, Value::from_node(val?, names)))
            }),
    );
    Some(ObjectContent { obj, props })
}

/// A document's objects at `split` read by [`ObjectReader`] (the page reader without the
/// network): the rest of the document, or its error, and the objects.
pub(crate) fn read_objects(
    doc: &[u8],
    split: (usize, &str),
) -> (Result<Node, String>, Vec<ObjectContent>) {
    let mut names = Interner::default();
    let mut out = Vec::new();
    let rest = super::xml::parse_with(
        doc,
        Some(split),
        ObjectReader::new(&mut names, |o| out.push(o)),
    );
    (rest, out)
}

/// Whose direct text is being read.
#[derive(Clone, Copy, PartialEq)]
enum Reading {
    None,
    Obj,
    Name,
    Val,
}

/// Reads each `objects` element of a page from its events (a [`Capture`]) into an
/// [`ObjectContent`], as [`object_content`] reads its tree: the first
/// `obj` (with a `type`, or the object is dropped), and of each `propSet` its first `name`
/// and first `val`. Everything else inside is skipped (the tree around still checks it).
pub(crate) struct ObjectReader<'i, F> {
    out: F,
    names: &'i mut Interner,
    /// Open elements of the current object, the `objects` element included.
    depth: usize,
    obj: Option<MoRef>,
    obj_seen: bool,
    obj_ty: Option<Arc<str>>,
    props: Vec<(Arc<str>, Value)>,
    /// Inside a `propSet` (at depth 2).
    in_prop: bool,
    name: Option<Arc<str>>,
    name_seen: bool,
    val: Option<Value>,
    reading: Reading,
    /// The text being read (of `obj`, `name` or a leaf `val`), reused.
    text: String,
    /// The attributes of the `val` being read, for its tree if a child element arrives.
    attrs: Vec<(String, String)>,
    /// The `val` being read as a tree (it has a child element).
    tree: Option<Tree<'static, Nothing>>,
}

impl<'i, F: FnMut(ObjectContent)> ObjectReader<'i, F> {
    pub fn new(names: &'i mut Interner, out: F) -> Self {
        ObjectReader {
            out,
            names,
            depth: 0,
            obj: None,
            obj_seen: false,
            obj_ty: None,
            props: Vec::new(),
            in_prop: false,
            name: None,
            name_seen: false,
            val: None,
            reading: Reading::None,
            text: String::new(),
            attrs: Vec::new(),
            tree: None,
        }
    }

    /// An element opens at `self.depth` (then one deeper); `empty` closes it at once.
    fn start(&mut self, e: &BytesStart<'_>, empty: bool) -> Result<(), String> {
        let qname = e.name();
        let name = local_bytes(qname.as_ref());
        let is_val = self.depth == 2 && self.in_prop && name == b"val" && self.val.is_none();
        let is_obj = self.depth == 1 && name == b"obj" && !self.obj_seen;
        if !is_val {
            // Checked as the tree checks every element's attributes: a bad one is malformed.
            let ty = attributes(e, |k, v| (k == b"type").then(|| v.to_string()))?;
            if is_obj {
                self.obj_ty = ty.map(|t| self.names.get(&t));
            }
        }
        match self.depth {
            0 => {
                self.obj_seen = false;
                self.obj = None;
                self.props = Vec::new();
                self.in_prop = false;
                self.reading = Reading::None;
            }
            1 if is_obj => {
                self.obj_seen = true;
                self.read(Reading::Obj);
            }
            1 if name == b"propSet" => {
                self.in_prop = true;
                self.name = None;
                self.name_seen = false;
                self.val = None;
            }
            2 if self.in_prop && name == b"name" && !self.name_seen => {
                self.name_seen = true;
                self.read(Reading::Name);
            }
            2 if is_val => {
                self.attributes(e)?;
                self.read(Reading::Val);
            }
            3 if self.reading == Reading::Val => {
                // A child element: the value is a data object or an array, kept as a tree.
                let root = Node {
                    name: "val".to_string(),
                    attrs: self.attrs.clone(),
                    text: std::mem::take(&mut self.text),
                    children: Vec::new(),
                };
                self.reading = Reading::None;
                let mut tree = Tree::open(root);
                let ev = if empty {
                    Event::Empty(e.borrow())
                } else {
                    Event::Start(e.borrow())
                };
                tree.feed(&ev)?;
                self.tree = Some(tree);
                if !empty {
                    self.depth += 1;
                }
                return Ok(());
            }
            _ => {}
        }
        self.depth += 1;
        if empty {
            self.end()?;
        }
        Ok(())
    }

    fn read(&mut self, what: Reading) {
        self.reading = what;
        self.text.clear();
    }

    /// The `val`'s attributes as the tree keeps them (`xmlns` ones left out), into `attrs`.
    fn attributes(&mut self, e: &BytesStart<'_>) -> Result<(), String> {
        self.attrs.clear();
        for a in e.attributes() {
            let a = a.map_err(|e| e.to_string())?;
            let key = String::from_utf8_lossy(a.key.as_ref());
            if key.starts_with("xmlns") {
                continue;
            }
            let value = a.unescape_value().map_err(|e| e.to_string())?;
            self.attrs.push((key.into_owned(), value.into_owned()));
        }
        Ok(())
    }

    /// The element open at `self.depth - 1` closes.
    fn end(&mut self) -> Result<(), String> {
        self.depth -= 1;
        match (self.depth, self.reading) {
            (1, Reading::Obj) => {
                self.obj = self
                    .obj_ty
                    .as_deref()
                    .map(|ty| MoRef::new(ty, self.text.trim()));
                self.reading = Reading::None;
            }
            (2, Reading::Name) => {
                self.name = Some(self.names.get(self.text.trim()));
                self.reading = Reading::None;
            }
            (2, Reading::Val) => {
                let mut ty = None;
                let mut xsi = None;
                for (k, v) in &self.attrs {
                    if ty.is_none() && k == "type" {
                        ty = Some(self.names.get(v));
                    }
                    if xsi.is_none() && k.ends_with(":type") {
                        xsi = Some(
                            self.names
                                .get(v.split_once(':').map_or(v.as_str(), |t| t.1)),
                        );
                    }
                }
                self.val = Some(Value::Leaf(Leaf {
                    text: self.text.trim().into(),
                    ty,
                    xsi,
                }));
                self.reading = Reading::None;
            }
            (1, _) if self.in_prop => {
                self.in_prop = false;
                if let (Some(n), Some(v)) = (self.name.take(), self.val.take()) {
                    self.props.push((n, v));
                }
            }
            (0, _) => {
                if let Some(obj) = self.obj.take() {
                    let mut props = std::mem::take(&mut self.props);
                    props.shrink_to_fit();
                    (self.out)(ObjectContent { obj, props });
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl<F: FnMut(ObjectContent)> Capture for ObjectReader<'_, F> {
    fn event(&mut self, ev: &Event<'_>) -> Result<(), String> {
        if let Some(tree) = &mut self.tree {
            if let Event::Start(_) = ev {
                self.depth += 1;
            }
            if let Event::End(_) = ev {
                self.depth -= 1;
            }
            if let Some(root) = tree.feed(ev)? {
                self.tree = None;
                self.val = Some(Value::Tree(Box::new(root)));
            }
            return Ok(());
        }
        match ev {
            Event::Start(e) => self.start(e, false),
            Event::Empty(e) => self.start(e, true),
            Event::End(_) => self.end(),
            Event::Text(t) => {
                // Unescaped whatever it is, as the tree does: a bad entity is malformed.
                let s = t.unescape().map_err(|e| e.to_string())?;
                if self.reading != Reading::None && self.at_reading_depth() {
                    self.text.push_str(&s);
                }
                Ok(())
            }
            Event::CData(t) => {
                if self.reading != Reading::None && self.at_reading_depth() {
                    self.text.push_str(&String::from_utf8_lossy(t));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Checks an element's attributes as the tree reads them (`xmlns` ones not unescaped) and
/// returns what `pick` picks from the first it picks from.
fn attributes<T>(
    e: &BytesStart<'_>,
    mut pick: impl FnMut(&[u8], &str) -> Option<T>,
) -> Result<Option<T>, String> {
    let mut out = None;
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        if a.key.as_ref().starts_with(b"xmlns") {
            continue;
        }
        let v = a.unescape_value().map_err(|e| e.to_string())?;
        if out.is_none() {
            out = pick(a.key.as_ref(), &v);
        }
    }
    Ok(out)
}

impl<F> ObjectReader<'_, F> {
    /// Whether the innermost open element is the one being read (its direct text).
    fn at_reading_depth(&self) -> bool {
        match self.reading {
            Reading::Obj => self.depth == 2,
            Reading::Name | Reading::Val => self.depth == 3,
            Reading::None => false,
        }
    }
}

/// Whether [`ObjectReader`] reads `doc`'s `objects` at depth 4 as the tree parser and
/// [`object_content`] do: the same objects when both read the document,
/// the same error when neither does. For the
/// `soap_dom` fuzz target and the tests.
pub(crate) fn reader_agrees(doc: &[u8]) -> bool {
    const SPLIT: (usize, &str) = (4, "objects");
    let (rest, read) = read_objects(doc, SPLIT);
    match (super::xml::parse(doc), rest) {
        (Ok(root), Ok(_)) => {
            let mut names = Interner::default();
            let mut tree = Vec::new();
            at_depth(&root, SPLIT, &mut tree);
            let tree: Vec<_> = tree
                .into_iter()
                .filter_map(|o| object_content(o.clone(), &mut names))
                .collect();
            tree == read
        }
        (Err(a), Err(b)) => a == b,
        _ => false,
    }
}

/// The elements named `at.1` at depth `at.0` below `n`, in document order.
fn at_depth<'a>(n: &'a Node, at: (usize, &str), out: &mut Vec<&'a Node>) {
    for c in &n.children {
        match at.0 {
            1 if c.name == at.1 => out.push(c),
            1 => {}
            d => at_depth(c, (d - 1, at.1), out),
        }
    }
}

#[cfg(test)]
mod tests;
