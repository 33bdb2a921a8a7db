//! `vcollect import-telegraf`: a Telegraf configuration with `[[inputs.vsphere]]` → the
//! equivalent vcollect configuration, as commented TOML text.
//!
//! Pure (text in, text out) so every mapping rule has a fast unit test. Nothing is dropped
//! silently: a key that cannot be carried over is named in a comment with the reason, and a
//! secret is never written out, only where vcollect will read it from (`*_env`, `*_file`).
//! The keys and what each becomes are listed in docs/compatibility.md.

mod credentials;
mod inputs;
mod outputs;
mod reasons;
mod render;
mod settings;
mod source;
mod values;
mod vsan;

use std::path::{Path, PathBuf};

use render::Section;
use source::{Bad, Plugin, Source};
use values::shown;

/// Where the converted file points password and token files (`<dir>/<vcenter>.password`).
pub const DEFAULT_SECRETS_DIR: &str = "/etc/vcollect";

/// Why a Telegraf file cannot be converted. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    // `cause`, not `source`: the message carries it (printed once with `{:#}`).
    #[error("telegraf config {file}: cannot read it: {cause}")]
    Read {
        file: PathBuf,
        cause: std::io::Error,
    },
    /// Not TOML; the message names the line and column.
    #[error("telegraf config {file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("telegraf config {file}: no [[inputs.vsphere]] table: nothing to import")]
    NoVsphere { file: PathBuf },
    #[error("telegraf config {file}: {table}: key `{key}`: {problem}")]
    Invalid {
        file: PathBuf,
        table: String,
        key: String,
        problem: String,
    },
}

/// Reads `path` and converts it; secrets files are pointed into `secrets_dir`.
pub fn import_file(path: &Path, secrets_dir: &Path) -> Result<String, ImportError> {
    import_files(&[path.to_path_buf()], secrets_dir)
}

/// Reads the files (a `telegraf.conf` and its `--config-directory` files, in the order
/// Telegraf reads them) and converts them as one configuration.
pub fn import_files(paths: &[PathBuf], secrets_dir: &Path) -> Result<String, ImportError> {
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|cause| ImportError::Read {
            file: path.clone(),
            cause,
        })?;
        files.push((path.clone(), text));
    }
    convert_files(&files, secrets_dir)
}

/// Converts the Telegraf configuration `text` (read from `file`, named in errors and in the
/// header comment).
pub fn convert(file: &Path, text: &str, secrets_dir: &Path) -> Result<String, ImportError> {
    convert_files(&[(file.to_path_buf(), text.to_string())], secrets_dir)
}

/// Converts several Telegraf files, `(path, text)` in the order Telegraf reads them, as one.
pub fn convert_files(
    files: &[(PathBuf, String)],
    secrets_dir: &Path,
) -> Result<String, ImportError> {
    let names: Vec<String> = files.iter().map(|(f, _)| f.display().to_string()).collect();
    // Errors after parsing name every file; a plugin's label names its own file.
    let all = PathBuf::from(names.join(", "));
    let invalid = |file: &Path, b: Bad| ImportError::Invalid {
        file: file.to_path_buf(),
        table: b.table,
        key: b.key,
        problem: b.problem,
    };
    let mut sources = Vec::with_capacity(files.len());
    for (file, text) in files {
        let doc: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ImportError::Parse {
                file: file.clone(),
                message: e.to_string().trim_end().to_string(),
            })?;
        let name = (files.len() > 1).then(|| file.display().to_string());
        sources.push(source::split(doc, text, name.as_deref()).map_err(|b| invalid(file, b))?);
    }
    let mut src = source::merge(sources);
    if src.vsphere.is_empty() {
        return Err(ImportError::NoVsphere { file: all });
    }
    let invalid = |b: Bad| invalid(&all, b);
    let agent_interval = match src.agent.remove("interval") {
        None => None,
        Some(v) => {
            Some(values::duration(&v).map_err(|p| invalid(Bad::new("[agent]", "interval", p)))?)
        }
    };
    let mut sections = vec![header(&names)];
    sections.extend(inputs::vcenters(&mut src.vsphere, secrets_dir).map_err(invalid)?);
    sections.push(settings::collect(&mut src.vsphere, agent_interval).map_err(invalid)?);
    sections.extend(outputs::outputs(&mut src.outputs, secrets_dir).map_err(invalid)?);
    sections.push(leftovers(src));
    Ok(render::render(&sections))
}

fn header(files: &[String]) -> Section {
    let mut s = Section::comments();
    s.comment(format!(
        "vcollect configuration converted from {} by `vcollect import-telegraf`.",
        files.join(", ")
    ));
    s.comment(
        "Check it with `vcollect validate --config FILE`; every key: docs/configuration.md,\n\
         how each Telegraf key maps: docs/compatibility.md. [node] keeps its defaults (name =\n\
         the host name, data_dir = /var/lib/vcollect); add [cluster] for several nodes.",
    );
    s
}

/// Everything not carried over, each named with the reason.
fn leftovers(mut src: Source) -> Section {
    let mut s = Section::comments();
    s.comment("---- Not carried over from Telegraf ----");
    for b in &mut src.vsphere {
        block_leftovers(&mut s, b);
    }
    let omit = src
        .agent
        .get("omit_hostname")
        .and_then(toml::Value::as_bool)
        .unwrap_or(false);
    if !omit {
        s.comment(
            "Telegraf added a `host` tag (its own machine's name) to every point; vcollect does \
             not: queries that group or filter by `host` need changing.",
        );
    }
    for (key, v) in &src.agent {
        s.comment(format!(
            "[agent] `{}`: {}.",
            shown(key, v),
            reasons::agent(key)
        ));
    }
    for (key, v) in &src.global_tags {
        s.comment(format!(
            "[global_tags] `{}`: vcollect adds no static tags.",
            shown(key, v)
        ));
    }
    for p in &src.others {
        s.comment(format!("{}: {}.", p.label(), other_reason(p)));
    }
    for (key, v) in &src.top {
        s.comment(format!(
            "`{}`: not a Telegraf table vcollect's importer knows.",
            shown(key, v)
        ));
    }
    s
}

fn block_leftovers(s: &mut Section, b: &mut Plugin) {
    let label = b.label();
    for (key, v) in std::mem::take(&mut b.table) {
        s.comment(format!(
            "{label} `{}`: {}.",
            shown(&key, &v),
            reasons::vsphere(&key)
        ));
    }
}

fn other_reason(p: &Plugin) -> &'static str {
    match p.section.as_str() {
        "inputs" => "vcollect collects vSphere only; keep Telegraf for this input",
        "processors" | "aggregators" => {
            "vcollect writes the vsphere input's series as Telegraf wrote them, unprocessed"
        }
        "secretstores" => "vcollect reads secrets from files or environment variables",
        _ => "not carried over",
    }
}

#[cfg(test)]
mod tests;
