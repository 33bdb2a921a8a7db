//! A byte-level XML tokenizer for the regular, repetitive parts of large answers, without
//! the element tree of `xml.rs`: a `VsanPerfQueryPerf` answer is some 90 bytes of markup per
//! value (`<value><metricId><label>…` with four more leaves), and the tree cost more than
//! the values (docs/benchmarks.md, "vSAN at its defaults").
//!
//! Two users: [`Cutter`] hands the bytes of each element of one name at one depth out of a
//! stream, and keeps the rest (the envelope, a fault) for the ordinary parser;
//! `vsan::parse` reads an entity's bytes with [`next`]. Anything this tokenizer does not
//! know (a comment, CDATA, a processing instruction inside an element) is [`Tok::Other`]:
//! its callers then fall back to the full parser, so the tokenizer never has to be complete.

/// One token of a document.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Tok<'a> {
    /// `<p:name …>`: the local name.
    Start(&'a [u8]),
    /// `<p:name …/>`.
    Empty(&'a [u8]),
    /// `</p:name>`.
    End(&'a [u8]),
    /// Character data, still escaped.
    Text(&'a [u8]),
    /// `<?…?>`, `<!--…-->`, `<![CDATA[…]]>`, `<!…>`.
    Other,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn local(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

/// The token at `pos` and where the next one starts; `None` when `buf` ends before the token
/// does (text runs to the next `<`: a stream waits for more).
pub(crate) fn next(buf: &[u8], pos: usize) -> Option<(Tok<'_>, usize)> {
    let rest = buf.get(pos..)?;
    if rest.is_empty() {
        return None;
    }
    if rest[0] != b'<' {
        let n = memchr::memchr(b'<', rest)?;
        return Some((Tok::Text(&rest[..n]), pos + n));
    }
    let other = |close: &[u8], from: usize| {
        find(&rest[from..], close).map(|i| (Tok::Other, pos + from + i + close.len()))
    };
    match rest.get(1)? {
        b'?' => return other(b"?>", 2),
        b'!' if rest.starts_with(b"<!--") => return other(b"-->", 4),
        b'!' if rest.starts_with(b"<![CDATA[") => return other(b"]]>", 9),
        b'!' if rest.len() < 9 => return None, // which kind it is: not known yet
        b'!' => return other(b">", 2),
        b'/' => {
            let n = memchr::memchr(b'>', rest)?;
            let name = rest[2..n].trim_ascii_end();
            return Some((Tok::End(local(name)), pos + n + 1));
        }
        _ => {}
    }
    // A start tag: its end is the first `>` outside a quoted attribute value.
    let mut quote = None;
    let mut i = 1;
    let end = loop {
        let b = *rest.get(i)?;
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if b == q => quote = None,
            (None, b'>') => break i,
            _ => {}
        }
        i += 1;
    };
    let name_end = rest[1..end]
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b'/')
        .map_or(end, |n| n + 1);
    let name = local(&rest[1..name_end]);
    if rest[end - 1] == b'/' {
        Some((Tok::Empty(name), pos + end + 1))
    } else {
        Some((Tok::Start(name), pos + end + 1))
    }
}

/// The bytes that make a start tag more than a leaf's bare name (an attribute, an empty
/// element, a declaration): a table, since every leaf's name is checked byte by byte.
const NOT_IN_LEAF_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let bytes = *b"/?!\"'< \t\n\r\x0c";
    let mut i = 0;
    while i < bytes.len() {
        t[bytes[i] as usize] = true;
        i += 1;
    }
    t
};

/// A simple leaf element at `pos`, `<p:name>text</p:name>` (no attribute, no markup inside,
/// the end tag spelled as the start tag): its local name, its text (still escaped, maybe
/// empty) and where the next token starts. The same as [`next`]'s Start, Text (when not
/// empty) and End, in one step: most of a vSAN answer is such leaves (five per metric), and
/// this is what reading them costs. `None` for anything else (the caller then uses [`next`]).
pub(crate) fn leaf(buf: &[u8], pos: usize) -> Option<(&[u8], &[u8], usize)> {
    let rest = buf.get(pos..)?;
    if rest.first() != Some(&b'<') {
        return None;
    }
    let gt = memchr::memchr(b'>', rest)?;
    let name = &rest[1..gt];
    if name.is_empty() || name.iter().any(|&b| NOT_IN_LEAF_NAME[b as usize]) {
        return None;
    }
    let text_end = gt + 1 + memchr::memchr(b'<', &rest[gt + 1..])?;
    let close = &rest[text_end..];
    let n = name.len();
    if close.len() < n + 3
        || &close[..2] != b"</"
        || &close[2..2 + n] != name
        || close[2 + n] != b'>'
    {
        return None;
    }
    Some((local(name), &rest[gt + 1..text_end], pos + text_end + n + 3))
}

/// Cuts each element named `name` at `depth` (the root at 0) out of a document fed in
/// chunks: [`Cutter::push`] hands out each one's bytes as soon as it is complete, and
/// [`Cutter::finish`] returns the document without them, for the ordinary parser (which
/// reports the envelope's faults and errors as it always does). Only an element being cut is
/// held, not the document.
pub(crate) struct Cutter<'n> {
    name: &'n [u8],
    at: usize,
    depth: usize,
    buf: Vec<u8>,
    /// Next token of `buf`.
    pos: usize,
    /// Where the element being cut starts in `buf`.
    cut: Option<usize>,
    /// `buf[..done]` has gone to `rest` or `out`.
    done: usize,
    rest: Vec<u8>,
}

impl<'n> Cutter<'n> {
    pub fn new(depth: usize, name: &'n str) -> Self {
        Cutter {
            name: name.as_bytes(),
            at: depth,
            depth: 0,
            buf: Vec::new(),
            pos: 0,
            cut: None,
            done: 0,
            rest: Vec::new(),
        }
    }

    /// Where the element being cut (starting at `cut`) ends: after the first end tag of
    /// its name from `self.pos` (`</name>` or `</p:name>`), found without tokenizing what
    /// is inside (the caller reads it, and an element whose inside is not balanced is an
    /// error there). `None`: not in `buf` yet.
    fn cut_end(&mut self) -> Option<usize> {
        let mut from = self.pos;
        loop {
            let Some(at) = memchr::memmem::find(&self.buf[from..], self.name) else {
                // Next time from where a name cut by the chunk's end could start.
                self.pos = self.buf.len().saturating_sub(self.name.len()).max(self.pos);
                return None;
            };
            let at = at + from;
            let after = at + self.name.len();
            let before = &self.buf[..at];
            let opens = before.ends_with(b"</")
                || before.iter().rposition(|&b| b == b'<').is_some_and(|lt| {
                    let tag = &before[lt..];
                    tag.starts_with(b"</")
                        && tag.ends_with(b":")
                        && tag[2..tag.len() - 1]
                            .iter()
                            .all(|b| !b" \t\r\n>/".contains(b))
                });
            match self.buf.get(after) {
                None => {
                    self.pos = at;
                    return None;
                }
                Some(b'>') if opens => return Some(after + 1),
                _ => from = after,
            }
        }
    }

    /// Takes the next chunk; each element completed in it goes to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut impl FnMut(&[u8])) {
        self.buf.extend_from_slice(chunk);
        loop {
            if let Some(s) = self.cut {
                let Some(end) = self.cut_end() else { break };
                out(&self.buf[s..end]);
                self.cut = None;
                self.done = end;
                self.pos = end;
                continue;
            }
            let Some((tok, end)) = next(&self.buf, self.pos) else {
                break;
            };
            let start = self.pos;
            self.pos = end;
            match tok {
                Tok::Start(n) => {
                    if self.cut.is_none() && self.depth == self.at && n == self.name {
                        self.rest.extend_from_slice(&self.buf[self.done..start]);
                        self.cut = Some(start);
                        self.done = start;
                    } else {
                        self.depth += 1;
                    }
                }
                Tok::Empty(n) if self.cut.is_none() && self.depth == self.at && n == self.name => {
                    self.rest.extend_from_slice(&self.buf[self.done..start]);
                    out(&self.buf[start..end]);
                    self.done = end;
                }
                Tok::End(_) => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
        if self.cut.is_none() {
            self.rest.extend_from_slice(&self.buf[self.done..self.pos]);
            self.done = self.pos;
        }
        let keep = self.cut.unwrap_or(self.done).min(self.done);
        self.buf.drain(..keep);
        self.pos -= keep;
        self.done -= keep;
        self.cut = self.cut.map(|c| c - keep);
    }

    /// The document without the elements handed out; an element cut short stays in it, so
    /// the parser reports where the document ended.
    pub fn finish(mut self) -> Vec<u8> {
        let from = self.cut.unwrap_or(self.done).min(self.done);
        self.rest.extend_from_slice(&self.buf[from..]);
        self.rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(doc: &[u8]) -> Vec<Tok<'_>> {
        let mut out = Vec::new();
        let mut pos = 0;
        while let Some((t, n)) = next(doc, pos) {
            out.push(t);
            pos = n;
        }
        out
    }

    #[test]
    fn tokens_of_tags_text_and_what_it_does_not_read() {
        let doc =
            br#"<?xml version="1.0"?><a:x k='v>w' b="1"><y/>t&amp;<!-- c --></a:x><![CDATA[z]]>"#;
        assert_eq!(
            tokens(doc),
            [
                Tok::Other,
                Tok::Start(b"x"),
                Tok::Empty(b"y"),
                Tok::Text(b"t&amp;"),
                Tok::Other,
                Tok::End(b"x"),
                Tok::Other,
            ]
        );
        // Incomplete: a tag or text cut off waits for more.
        assert_eq!(next(b"<abc", 0), None);
        assert_eq!(next(b"text", 0), None);
        assert_eq!(next(b"<!-", 0), None);
    }

    /// The tokens of `doc` read with [`leaf`] wherever it reads one, [`next`] elsewhere.
    fn tokens_with_leaves(doc: &[u8]) -> Vec<Tok<'_>> {
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            if let Some((name, text, n)) = leaf(doc, pos) {
                out.push(Tok::Start(name));
                if !text.is_empty() {
                    out.push(Tok::Text(text));
                }
                out.push(Tok::End(name));
                pos = n;
            } else if let Some((t, n)) = next(doc, pos) {
                out.push(t);
                pos = n;
            } else {
                return out;
            }
        }
    }

    #[test]
    fn a_leaf_is_its_start_text_and_end_tokens() {
        let doc = b"<r><a>1</a><p:b>x&amp;y</p:b><c></c><d x='1'>2</d><e>3</f><g>4<h/></g><i/>\
            <j>5</j ><k>6</k><!-- c --></r>";
        assert_eq!(tokens_with_leaves(doc), tokens(doc));
        assert_eq!(leaf(doc, 3), Some((&b"a"[..], &b"1"[..], 11)));
        assert_eq!(
            leaf(doc, 11).map(|l| (l.0, l.1)),
            Some((&b"b"[..], &b"x&amp;y"[..]))
        );
        assert!(leaf(doc, 0).is_none(), "not a leaf: an element inside");
        for at in ["<d ", "<e>", "<g>", "<i/>", "<j>"] {
            let pos = doc
                .windows(at.len())
                .position(|w| w == at.as_bytes())
                .unwrap();
            assert!(leaf(doc, pos).is_none(), "{at}");
        }
        // Cut off anywhere: not read as a leaf (a stream waits for more).
        let one = b"<a>1</a>";
        for end in 0..one.len() {
            assert!(leaf(&one[..end], 0).is_none(), "{end}");
        }
        assert!(leaf(b"<a>1</ab>", 0).is_none());
    }

    #[test]
    fn cuts_the_named_elements_at_their_depth_from_any_chunking() {
        let doc = b"<E><B><R><returnval><a>1</a><b>returnval</b></returnval>\
            <returnval/><other>2</other><v:returnval x='1'><a>3</a></v:returnval></R></B></E>";
        for size in [1, 2, 3, 7, doc.len()] {
            let mut c = Cutter::new(3, "returnval");
            let mut cut = Vec::new();
            for chunk in doc.chunks(size) {
                c.push(chunk, &mut |b: &[u8]| cut.push(b.to_vec()));
            }
            let rest = c.finish();
            assert_eq!(
                cut,
                [
                    b"<returnval><a>1</a><b>returnval</b></returnval>".to_vec(),
                    b"<returnval/>".to_vec(),
                    b"<v:returnval x='1'><a>3</a></v:returnval>".to_vec(),
                ],
                "chunks of {size}"
            );
            assert_eq!(
                rest, b"<E><B><R><other>2</other></R></B></E>",
                "chunks of {size}"
            );
        }
    }

    #[test]
    fn an_element_ends_at_the_first_end_tag_of_its_name() {
        // What is inside is not tokenized: a nested element of the same name (no entity
        // holds one) ends the cut early, and the reader of the cut bytes finds them broken.
        let mut c = Cutter::new(1, "r");
        let mut cut = Vec::new();
        c.push(b"<E><r><r>x</r></r></E>", &mut |b: &[u8]| {
            cut.push(b.to_vec())
        });
        assert_eq!(cut, [b"<r><r>x</r>".to_vec()]);
        assert_eq!(c.finish(), b"<E></r></E>");
    }

    #[test]
    fn an_element_cut_short_stays_in_the_rest() {
        let mut c = Cutter::new(1, "r");
        let mut n = 0;
        c.push(b"<E><r><a>1</a></r><r><a>", &mut |_: &[u8]| n += 1);
        assert_eq!(n, 1);
        assert_eq!(c.finish(), b"<E><r><a>");
    }
}
