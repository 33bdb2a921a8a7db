//! Passwords and tokens: vcollect's file never holds one, so a Telegraf secret becomes a
//! `*_env` key (an environment reference) or a `*_file` key with a comment saying what to
//! put there. The secret's text is never written, not even in a comment.

use std::path::Path;

use super::render::Section;
use super::values::{secret_ref, SecretRef};

/// What the secret is for, in comments and file names.
pub(super) struct SecretSpec<'a> {
    /// `password` or `token`: the vcollect keys are `<key>_file` / `<key>_env`.
    pub key: &'a str,
    /// The Telegraf key and table it came from, for the comment.
    pub from: &'a str,
    /// `/etc/vcollect/<stem>.<key>`.
    pub stem: &'a str,
    /// vcollect requires it (a vCenter's password, a 2.x token): written even when Telegraf
    /// had none, so the admin sees where it goes.
    pub required: bool,
}

/// Writes `<key>_env` or `<key>_file` (with its comment) for the Telegraf value `text`.
pub(super) fn secret(out: &mut Section, spec: &SecretSpec<'_>, text: Option<&str>, dir: &Path) {
    let file = dir
        .join(format!("{}.{}", spec.stem, spec.key))
        .display()
        .to_string();
    let (key, from) = (spec.key, spec.from);
    match secret_ref(text.unwrap_or("")) {
        SecretRef::Env { var, fallback } => {
            if fallback {
                out.comment(format!(
                    "{from} gave a default for when ${var} is unset; vcollect requires {var} \
                     to be set (the default is not carried over)."
                ));
            }
            out.key(&format!("{key}_env"), var);
        }
        SecretRef::Store { store, key: k } => {
            out.comment(format!(
                "{from} came from Telegraf's secret store `{store}` (key `{k}`): put it in this \
                 file (first line), readable only by the vcollect user."
            ));
            out.key(&format!("{key}_file"), file);
        }
        SecretRef::Literal => {
            out.comment(format!(
                "{from} was written in Telegraf's file: put it in this file (first line), \
                 readable only by the vcollect user (e.g. chmod 640, group vcollect)."
            ));
            out.key(&format!("{key}_file"), file);
        }
        SecretRef::Empty if spec.required => {
            out.comment(format!(
                "{from} is empty or unset in Telegraf's file: put the {key} in this file, or \
                 use {key}_env."
            ));
            out.key(&format!("{key}_file"), file);
        }
        SecretRef::Empty => {}
    }
}

/// A comment when a plain (non-secret) value uses environment variables, which Telegraf
/// replaces in the whole file and vcollect does not.
pub(super) fn env_note(out: &mut Section, what: &str, value: &str) {
    if let SecretRef::Store { store, key } = secret_ref(value) {
        out.comment(format!(
            "{what} came from Telegraf's secret store `{store}` (key `{key}`): vcollect reads \
             none; write the value here."
        ));
    }
    let vars = super::values::env_refs(value);
    if !vars.is_empty() {
        out.comment(format!(
            "{what} uses ${}, which Telegraf replaced from its environment: vcollect does not; \
             write the value here.",
            vars.join(", $")
        ));
    }
}
