//! The Telegraf file taken apart: the vsphere inputs, the outputs in file order, `[agent]`,
//! `[global_tags]` and everything else, each plugin with the line of its header so the
//! comments can point at it.

use toml::{Table, Value};

/// A value Telegraf itself would refuse: the import stops and names it.
#[derive(Debug)]
pub(super) struct Bad {
    pub table: String,
    pub key: String,
    pub problem: String,
}

impl Bad {
    pub(super) fn new(table: &str, key: &str, problem: impl Into<String>) -> Bad {
        Bad {
            table: table.to_string(),
            key: key.to_string(),
            problem: problem.into(),
        }
    }
}

/// One `[[inputs.X]]`, `[[outputs.X]]` (or processor, aggregator …) table.
pub(super) struct Plugin {
    /// `inputs`, `outputs`, `processors` …
    pub section: String,
    pub name: String,
    /// 1-based among the plugins of this section and name.
    pub n: usize,
    /// The line of its header, when written as a header line of its own.
    pub line: Option<usize>,
    /// The file it is in, when several files are imported together.
    pub file: Option<String>,
    pub table: Table,
    /// The vcollect names (`vcenter` tags) of the vCenters it lists (vsphere inputs).
    pub hosts: Vec<String>,
}

impl Plugin {
    /// `[[inputs.vsphere]] #2 (line 40)`, `… (vsphere.conf line 3)`: how comments name it.
    pub(super) fn label(&self) -> String {
        let at = match (&self.file, self.line) {
            (Some(f), Some(l)) => format!(" ({f} line {l})"),
            (Some(f), None) => format!(" ({f})"),
            (None, Some(l)) => format!(" (line {l})"),
            (None, None) => String::new(),
        };
        format!("[[{}.{}]] #{}{at}", self.section, self.name, self.n)
    }

    /// Removes and returns a key: every key is taken exactly once, and what is left over
    /// is reported as not carried over.
    pub(super) fn take(&mut self, key: &str) -> Option<Value> {
        self.table.remove(key)
    }
}

/// The whole file, sorted.
pub(super) struct Source {
    pub agent: Table,
    pub global_tags: Table,
    pub vsphere: Vec<Plugin>,
    /// Every output, in file order.
    pub outputs: Vec<Plugin>,
    /// Other inputs, processors, aggregators, secret stores …
    pub others: Vec<Plugin>,
    /// Top-level keys that are not plugin sections.
    pub top: Table,
}

const PLUGIN_SECTIONS: &[&str] = &[
    "inputs",
    "outputs",
    "processors",
    "aggregators",
    "secretstores",
];

/// Sorts the parsed file `doc` (read from `text`, for the header lines); `file` names it in
/// comments when several files are imported together.
pub(super) fn split(mut doc: Table, text: &str, file: Option<&str>) -> Result<Source, Bad> {
    let agent = table_of(&mut doc, "agent")?;
    let global_tags = table_of(&mut doc, "global_tags")?;
    let mut plugins = Vec::new();
    for section in PLUGIN_SECTIONS {
        let Some(v) = doc.remove(*section) else {
            continue;
        };
        let Value::Table(by_name) = v else {
            return Err(Bad::new(section, section, "must be a table of plugins"));
        };
        for (name, v) in by_name {
            plugins.extend(instances(section, &name, v, text)?);
        }
    }
    for p in &mut plugins {
        p.file = file.map(str::to_string);
    }
    plugins.sort_by_key(|p| {
        (
            p.line.unwrap_or(usize::MAX),
            p.section.clone(),
            p.name.clone(),
            p.n,
        )
    });
    let (vsphere, rest): (Vec<_>, Vec<_>) = plugins
        .into_iter()
        .partition(|p| p.section == "inputs" && p.name == "vsphere");
    let (outputs, others) = rest.into_iter().partition(|p| p.section == "outputs");
    Ok(Source {
        agent,
        global_tags,
        vsphere,
        outputs,
        others,
        top: doc,
    })
}

/// The files' contents as one, in file order, as Telegraf reads `--config` and
/// `--config-directory` files: plugins add up, `[agent]` and `[global_tags]` keys merge (a
/// later file's key wins). Plugins are numbered across the files.
pub(super) fn merge(sources: Vec<Source>) -> Source {
    let mut all = Source {
        agent: Table::new(),
        global_tags: Table::new(),
        vsphere: Vec::new(),
        outputs: Vec::new(),
        others: Vec::new(),
        top: Table::new(),
    };
    for s in sources {
        all.agent.extend(s.agent);
        all.global_tags.extend(s.global_tags);
        all.vsphere.extend(s.vsphere);
        all.outputs.extend(s.outputs);
        all.others.extend(s.others);
        all.top.extend(s.top);
    }
    for list in [&mut all.vsphere, &mut all.outputs, &mut all.others] {
        let mut seen: Vec<(String, String)> = Vec::new();
        for p in list.iter_mut() {
            let id = (p.section.clone(), p.name.clone());
            p.n = 1 + seen.iter().filter(|s| **s == id).count();
            seen.push(id);
        }
    }
    all
}

fn table_of(doc: &mut Table, key: &str) -> Result<Table, Bad> {
    match doc.remove(key) {
        None => Ok(Table::new()),
        Some(Value::Table(t)) => Ok(t),
        Some(_) => Err(Bad::new(key, key, "must be a table")),
    }
}

/// `[[section.name]]` tables (or one `[section.name]` table), numbered, with header lines.
fn instances(section: &str, name: &str, v: Value, text: &str) -> Result<Vec<Plugin>, Bad> {
    let tables = match v {
        Value::Table(t) => vec![t],
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::Table(t) => Ok(t),
                _ => Err(Bad::new(
                    &format!("{section}.{name}"),
                    name,
                    "must be a table ([[...]])",
                )),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(Bad::new(
                &format!("{section}.{name}"),
                name,
                "must be a table ([[...]])",
            ))
        }
    };
    let lines = header_lines(text, &format!("{section}.{name}"));
    Ok(tables
        .into_iter()
        .enumerate()
        .map(|(i, table)| Plugin {
            section: section.to_string(),
            name: name.to_string(),
            n: i + 1,
            line: lines.get(i).copied(),
            file: None,
            table,
            hosts: Vec::new(),
        })
        .collect())
}

/// The 1-based lines of `[[path]]` / `[path]` headers, in order. Headers written any other way
/// (quoted keys, inline tables) are not found: their comments then go without a line.
fn header_lines(text: &str, path: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let t = line.trim_start();
            let inner = t
                .strip_prefix("[[")
                .and_then(|r| r.split_once("]]"))
                .or_else(|| t.strip_prefix('[').and_then(|r| r.split_once(']')))?
                .0;
            let compact: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
            (compact == path).then_some(i + 1)
        })
        .collect()
}
