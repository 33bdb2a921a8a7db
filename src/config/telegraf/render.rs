//! The converted configuration as text: tables of `key = value` lines with comments.
//!
//! Built line by line rather than serialised, because the comments (where a value came from,
//! what was not carried over and why) are the point of the output.

use toml::Value;

enum Line {
    Comment(String),
    Key(String, Value),
}

/// One table (`[collect]`, `[[vcenter]]`) or, without a header, a block of comments.
pub(super) struct Section {
    header: Option<String>,
    lines: Vec<Line>,
}

impl Section {
    pub(super) fn table(header: &str) -> Section {
        Section {
            header: Some(header.to_string()),
            lines: Vec::new(),
        }
    }

    pub(super) fn comments() -> Section {
        Section {
            header: None,
            lines: Vec::new(),
        }
    }

    pub(super) fn comment(&mut self, text: impl Into<String>) {
        self.lines.push(Line::Comment(text.into()));
    }

    pub(super) fn key(&mut self, key: &str, value: impl Into<Value>) {
        self.lines.push(Line::Key(key.to_string(), value.into()));
    }
}

/// The sections, a blank line between them.
pub(super) fn render(sections: &[Section]) -> String {
    let mut out = String::new();
    for s in sections {
        if s.header.is_none() && s.lines.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        if let Some(h) = &s.header {
            out.push_str(h);
            out.push('\n');
        }
        for line in &s.lines {
            match line {
                Line::Comment(text) => {
                    for l in text.lines() {
                        out.push_str(&format!("# {}\n", clean(l)).replace("# \n", "#\n"));
                    }
                }
                Line::Key(k, v) => out.push_str(&format!("{} = {}\n", key_text(k), value_text(v))),
            }
        }
    }
    out
}

/// A comment line never carries a control character (a key name could).
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Bare keys as they are; anything else quoted.
fn key_text(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        Value::String(k.to_string()).to_string()
    }
}

/// Lists longer than three items one per line, as a person writes them.
fn value_text(v: &Value) -> String {
    match v {
        Value::Array(items) if items.len() > 3 => {
            let mut s = String::from("[\n");
            for i in items {
                s.push_str(&format!("    {i},\n"));
            }
            s.push(']');
            s
        }
        // Not `one_line`: a string with a line break is written as TOML writes it.
        v => v.to_string(),
    }
}
