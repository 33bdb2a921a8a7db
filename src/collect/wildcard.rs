//! Wildcard patterns as Telegraf's vSphere plugin reads them.
//!
//! Two flavours, because Telegraf matches two things with two libraries:
//! * one segment of an inventory path (`vm_include = ["/DC0/vm/web*"]`) goes through govmomi's
//!   property filter, i.e. Go's `filepath.Match`: `*`, `?`, `[a-z]`, `[^a-z]`, `\x`; a
//!   malformed pattern (an unclosed `[`) matches nothing, as Go reports it as an error that
//!   Telegraf ignores;
//! * a counter name (`vm_metric_include = ["cpu.*"]`) goes through Telegraf's `filter`
//!   package (gobwas/glob without separators): the same, `[!a-z]` for negation too, and
//!   `{a,b}` alternatives. `*` crosses the dots of `group.name.rollup`.
//!
//! Matching is on characters, not bytes (`?` is one character of a name in any script).

/// One compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wildcard {
    /// Alternatives (more than one only with `{a,b}`); empty when the pattern is malformed.
    alternatives: Vec<Vec<Token>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Char(char),
    /// `?`
    One,
    /// `*`
    Any,
    /// `[...]`: ranges (a single char is `(c, c)`), negated with `^` or `!`.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Wildcard {
    /// A pattern for one inventory path segment (Go `filepath.Match` syntax).
    pub fn segment(pattern: &str) -> Wildcard {
        Wildcard {
            alternatives: tokens(pattern).into_iter().collect(),
        }
    }

    /// A pattern for a counter name (Telegraf's filter syntax: with `{a,b}`).
    pub fn name(pattern: &str) -> Wildcard {
        let alternatives = expand_braces(pattern)
            .iter()
            .map(|p| tokens(p))
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default();
        Wildcard { alternatives }
    }

    /// Whether `pattern` has any wildcard at all (Telegraf resolves a list without any by
    /// exact name, with no call to vCenter).
    pub fn has_meta(pattern: &str) -> bool {
        pattern.contains(['*', '?', '[', '{', '\\'])
    }

    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        self.alternatives.iter().any(|t| match_tokens(t, &text))
    }
}

/// Compiles one pattern; `None` when it is malformed.
fn tokens(pattern: &str) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '*' => Token::Any,
            '?' => Token::One,
            '\\' => Token::Char(chars.next()?),
            '[' => class(&mut chars)?,
            c => Token::Char(c),
        });
    }
    Some(out)
}

/// The rest of a `[...]` class, after its `[`.
fn class(chars: &mut std::str::Chars<'_>) -> Option<Token> {
    let mut negated = false;
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let mut c = chars.next()?;
        if first && (c == '^' || c == '!') {
            negated = true;
            first = false;
            continue;
        }
        if c == ']' && !first {
            return Some(Token::Class { negated, ranges });
        }
        first = false;
        if c == '\\' {
            c = chars.next()?;
        }
        let mut peek = chars.clone();
        if peek.next() == Some('-') {
            match peek.next() {
                Some(']') | None => ranges.push((c, c)),
                Some(hi) => {
                    let hi = if hi == '\\' { peek.next()? } else { hi };
                    *chars = peek;
                    ranges.push((c, hi));
                    continue;
                }
            }
        } else {
            ranges.push((c, c));
        }
    }
}

/// `a{b,c}d` → `abd`, `acd` (one level; a `{` without `}` is literal).
fn expand_braces(pattern: &str) -> Vec<String> {
    let Some(open) = pattern.find('{') else {
        return vec![pattern.to_string()];
    };
    let Some(close) = pattern[open..].find('}').map(|i| open + i) else {
        return vec![pattern.to_string()];
    };
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    pattern[open + 1..close]
        .split(',')
        .flat_map(|alt| expand_braces(&format!("{head}{alt}{tail}")))
        .collect()
}

fn one(t: &Token, c: char) -> bool {
    match t {
        Token::Char(x) => *x == c,
        Token::One => true,
        Token::Any => false,
        Token::Class { negated, ranges } => {
            ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
        }
    }
}

/// Glob matching with the classic single backtrack point for `*` (linear in practice).
fn match_tokens(tokens: &[Token], text: &[char]) -> bool {
    let (mut t, mut s) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while s < text.len() {
        if t < tokens.len() && tokens[t] == Token::Any {
            star = Some((t, s));
            t += 1;
        } else if t < tokens.len() && one(&tokens[t], text[s]) {
            t += 1;
            s += 1;
        } else if let Some((st, ss)) = star {
            t = st + 1;
            s = ss + 1;
            star = Some((st, ss + 1));
        } else {
            return false;
        }
    }
    tokens[t..].iter().all(|t| *t == Token::Any)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(p: &str, s: &str) -> bool {
        Wildcard::segment(p).matches(s)
    }

    /// The cases of Go's `filepath.Match` that apply to one path segment.
    #[test]
    fn segments_match_like_go_filepath_match() {
        assert!(seg("abc", "abc"));
        assert!(!seg("abc", "abcd"));
        assert!(seg("*", "abc"));
        assert!(seg("*c", "abc"));
        assert!(seg("a*", "a"));
        assert!(seg("a*b*c*d*e*f", "axbxcxdxexf"));
        assert!(!seg("a*b*c*d*e*f", "axbxcxdxexfx"));
        assert!(seg("ab[c]", "abc"));
        assert!(seg("ab[b-d]", "abc"));
        assert!(!seg("ab[e-g]", "abc"));
        assert!(!seg("ab[^c]", "abc"));
        assert!(seg("ab[^e-g]", "abc"));
        assert!(seg("a?b", "a☺b"));
        assert!(seg("a[^a]b", "a☺b"));
        assert!(seg("a[!a]b", "a☺b"));
        assert!(seg("a\\*b", "a*b"));
        assert!(!seg("a\\*b", "ab"));
        assert!(seg("[\\]a]", "]"));
        assert!(seg("[\\-]", "-"));
        assert!(seg("[x\\-]", "-"));
        assert!(seg("hadoop*", "hadoop1"));
        assert!(!seg("hadoop*", "Hadoop1"));
        // Malformed patterns match nothing (Go: ErrBadPattern, ignored by Telegraf).
        assert!(!seg("[", "a"));
        assert!(!seg("a[", "a"));
        assert!(!seg("\\", "a"));
        // `**` inside a segment is just `*`; the empty pattern matches only "".
        assert!(seg("web**", "web01"));
        assert!(!seg("", "a"));
        // Braces are literal for paths.
        assert!(seg("{a,b}", "{a,b}"));
        assert!(!seg("{a,b}", "a"));
    }

    #[test]
    fn names_match_like_telegraf_filters() {
        let n = |p: &str, s: &str| Wildcard::name(p).matches(s);
        assert!(n("cpu.*", "cpu.usage.average"));
        assert!(n("*.average", "cpu.usage.average"));
        assert!(n("*", "mem.swapin.average"));
        assert!(!n("cpu.*", "mem.usage.average"));
        assert!(n("mem.swap?n.average", "mem.swapin.average"));
        assert!(n("{cpu,mem}.usage.average", "mem.usage.average"));
        assert!(n("{cpu,mem}.usage.average", "cpu.usage.average"));
        assert!(!n("{cpu,mem}.usage.average", "net.usage.average"));
        assert!(n("net.[!d]*", "net.usage.average"));
        assert!(!n("net.[!d]*", "net.droppedRx.summation"));
        // Exact names stay exact, case included.
        assert!(n("mem.swapIn.average", "mem.swapIn.average"));
        assert!(!n("mem.swapIn.average", "mem.swapin.average"));
        assert!(Wildcard::has_meta("cpu.*"));
        assert!(!Wildcard::has_meta("cpu.usage.average"));
    }

    /// The configuration's check of strict pattern keys (`tag_categories_include`) refuses
    /// exactly the patterns this module cannot compile.
    #[test]
    fn the_configuration_refuses_exactly_the_malformed_patterns() {
        for p in [
            "", "*", "env", "a[bc]d", "[]]", "[^]", "[!a-z]x", "[a-]", "\\*", "{a,b}*", "[", "[a",
            "[^", "a\\", "[a-\\", "[\\", "{[,b}", "[]", "x[]y", "[!]]",
        ] {
            let compiles = !Wildcard::name(p).alternatives.is_empty();
            let accepted = crate::config::pattern_problem(p).is_none();
            assert_eq!(compiles, accepted, "{p:?}");
        }
    }
}
