//! `[[outputs.influxdb]]` (1.x) or `[[outputs.influxdb_v2]]` → `[output]`, and every
//! `[[outputs.http]]` with `data_format = "prometheusremotewrite"` → a remote-write
//! `[[output]]` beside it, every `[[outputs.opentelemetry]]` → an OTLP/gRPC one.
//!
//! The first InfluxDB output in the file is carried over, every other InfluxDB output and
//! every output vcollect has no equivalent for is named in a comment with the reason.

use std::path::Path;
use std::time::Duration;

use super::credentials::{env_note, secret, SecretSpec};
use super::reasons;
use super::render::Section;
use super::source::{Bad, Plugin};
use super::values::{duration, fmt_duration, in_range, shown, string, strings};
use crate::config::ranges;

/// Telegraf's InfluxDB 1.x database when none is set.
const TELEGRAF_DATABASE: &str = "telegraf";

/// Telegraf's InfluxDB URL when none is set.
const TELEGRAF_URL: &str = "http://localhost:8086";

/// Whether a plugin is Telegraf's HTTP output with the remote-write serializer.
fn is_remote_write(p: &Plugin) -> bool {
    p.name == "http"
        && p.table
            .get("data_format")
            .and_then(|v| v.as_str())
            .is_some_and(|f| f == "prometheusremotewrite")
}

/// Whether a plugin is Telegraf's OpenTelemetry output.
fn is_otlp(p: &Plugin) -> bool {
    p.name == "opentelemetry"
}

/// The output sections: `[output]` for the one InfluxDB output, or `[[output]]` tables when
/// remote-write or OpenTelemetry outputs come along.
pub(super) fn outputs(outputs: &mut [Plugin], dir: &Path) -> Result<Vec<Section>, Bad> {
    let rw: Vec<usize> = (0..outputs.len())
        .filter(|&i| is_remote_write(&outputs[i]))
        .collect();
    let otel: Vec<usize> = (0..outputs.len())
        .filter(|&i| is_otlp(&outputs[i]))
        .collect();
    let pushed = rw.is_empty() && otel.is_empty();
    let header = if pushed { "[output]" } else { "[[output]]" };
    let has_influx = outputs
        .iter()
        .any(|p| p.name == "influxdb" || p.name == "influxdb_v2");
    let mut sections = Vec::new();
    if has_influx || pushed {
        sections.push(output(header, outputs, dir)?);
    } else {
        let mut s = Section::comments();
        others(&mut s, outputs, None);
        sections.push(s);
    }
    for (k, &i) in rw.iter().enumerate() {
        let name = (rw.len() > 1).then(|| format!("remote_write-{}", k + 1));
        sections.push(remote_write(&mut outputs[i], name, dir)?);
    }
    for (k, &i) in otel.iter().enumerate() {
        let name = (otel.len() > 1).then(|| format!("otlp-{}", k + 1));
        sections.push(otlp(&mut outputs[i], name, dir)?);
    }
    Ok(sections)
}

/// One `[[outputs.http]]` with the remote-write serializer.
fn remote_write(p: &mut Plugin, name: Option<String>, dir: &Path) -> Result<Section, Bad> {
    let mut s = pushed_table(p, "Prometheus remote-write", "remote_write", name);
    p.take("data_format");
    match take_string(p, "url")? {
        Some(u) => {
            let (u, had_userinfo) = strip_userinfo(&u);
            if had_userinfo {
                s.comment("The URL's user info was left out: use username and password_file.");
            }
            s.key("url", u);
        }
        None => s.comment("Telegraf's http output has no url: set url (required)."),
    }
    let user = take_string(p, "username")?.filter(|u| !u.is_empty());
    let password = take_string(p, "password")?;
    if let Some(u) = &user {
        s.key("username", u.as_str());
        let spec = SecretSpec {
            key: "password",
            from: "The remote-write password",
            stem: "remote_write",
            required: true,
        };
        secret(&mut s, &spec, password.as_deref(), dir);
    }
    let headers = "headers not carried over: vcollect sends the protocol's own headers \
                   (Content-Encoding: snappy, X-Prometheus-Remote-Write-Version) and the \
                   authentication above.";
    pushed_rest(&mut s, p, user.is_none(), "remote_write", headers, dir)?;
    Ok(s)
}

/// One `[[outputs.opentelemetry]]`: OTLP over gRPC to the same address, as Telegraf sends it.
fn otlp(p: &mut Plugin, name: Option<String>, dir: &Path) -> Result<Section, Bad> {
    let mut s = pushed_table(p, "OpenTelemetry", "otlp", name);
    let address = take_string(p, "service_address")?.unwrap_or_else(|| "localhost:4317".into());
    s.key("protocol", "grpc");
    if address.contains("://") {
        s.key("url", address);
    } else {
        s.key("url", format!("http://{address}"));
    }
    match take_string(p, "compression")?.as_deref() {
        None | Some("gzip") => {}
        Some("none") | Some("") => s.key("gzip", false),
        Some(other) => s.comment(format!(
            "compression = {other:?} not carried over: vcollect offers gzip or none (gzip)."
        )),
    }
    let headers = "headers not carried over: vcollect sends the protocol's own headers and \
                   the authentication above.";
    pushed_rest(&mut s, p, true, "otlp", headers, dir)?;
    Ok(s)
}

/// The `[[output]]` table of a pushed output: where it came from, its type and name.
fn pushed_table(p: &Plugin, what: &str, kind: &str, name: Option<String>) -> Section {
    let mut s = Section::table("[[output]]");
    s.comment(format!("From {} ({what}).", p.label()));
    s.key("type", kind);
    if let Some(n) = name {
        s.key("name", n);
    }
    s
}

/// Telegraf's `timeout`, within vcollect's range (every output kind has it).
fn timeout(s: &mut Section, p: &mut Plugin) -> Result<(), Bad> {
    if let Some(t) = take_duration(p, "timeout")? {
        let (t, note) = in_range("timeout", t, &ranges::CALL_TIMEOUT, fmt_duration);
        if let Some(note) = note {
            s.comment(note);
        }
        s.key("timeout", fmt_duration(t));
    }
    Ok(())
}

/// What remote-write and OpenTelemetry outputs share: an `Authorization: Bearer` header as
/// `token_file` (when `bearer` and no username was set), `timeout`, and every key left
/// named in a comment with its reason.
fn pushed_rest(
    s: &mut Section,
    p: &mut Plugin,
    bearer: bool,
    stem: &'static str,
    headers_note: &str,
    dir: &Path,
) -> Result<(), Bad> {
    if let Some(h) = p.take("headers") {
        let token = h
            .get("Authorization")
            .and_then(|v| v.as_str())
            .and_then(|a| a.strip_prefix("Bearer "));
        if let (Some(token), true) = (token, bearer) {
            let spec = SecretSpec {
                key: "token",
                from: "The bearer token",
                stem,
                required: true,
            };
            secret(s, &spec, Some(token), dir);
        }
        s.comment(headers_note);
    }
    timeout(s, p)?;
    let label = p.label();
    for (key, v) in std::mem::take(&mut p.table) {
        s.comment(format!(
            "{label} `{}` not carried over: {}.",
            shown(&key, &v),
            reasons::output(&key)
        ));
    }
    Ok(())
}

/// Comments naming the outputs not carried over (all but `chosen` and the remote-write
/// ones), each with its reason.
fn others(s: &mut Section, outputs: &[Plugin], chosen: Option<usize>) {
    for (j, p) in outputs.iter().enumerate() {
        if Some(j) == chosen || is_remote_write(p) || is_otlp(p) {
            continue;
        }
        let why = match p.name.as_str() {
            "influxdb" | "influxdb_v2" => "vcollect writes to one InfluxDB output",
            "prometheus_client" => {
                "vcollect pushes, it serves no scrape endpoint: add an [[output]] with \
                 type = \"remote_write\" and the url of your Prometheus' remote-write \
                 receiver (or VictoriaMetrics' /api/v1/write); every sample then arrives, not \
                 only the newest at each scrape"
            }
            _ => "vcollect writes to InfluxDB, Prometheus remote-write and OTLP receivers",
        };
        s.comment(format!("{} not carried over: {why}.", p.label()));
    }
}

/// The InfluxDB output section (`header`: `[output]` or `[[output]]`).
fn output(header: &str, outputs: &mut [Plugin], dir: &Path) -> Result<Section, Bad> {
    let mut s = Section::table(header);
    let chosen = outputs
        .iter()
        .position(|p| p.name == "influxdb" || p.name == "influxdb_v2");
    match chosen {
        None => s.comment(
            "Telegraf's file has no [[outputs.influxdb]] or [[outputs.influxdb_v2]]: set url \
             (and database, or org, bucket and token_file) to vcollect's InfluxDB.",
        ),
        Some(i) => {
            let p = &mut outputs[i];
            s.comment(format!("From {}.", p.label()));
            if p.name == "influxdb" {
                v1(&mut s, p, dir)?;
            } else {
                v2(&mut s, p, dir)?;
            }
            let label = p.label();
            for (key, v) in std::mem::take(&mut p.table) {
                s.comment(format!(
                    "{label} `{}` not carried over: {}.",
                    shown(&key, &v),
                    reasons::output(&key)
                ));
            }
        }
    }
    others(&mut s, outputs, chosen);
    Ok(s)
}

fn take_string(p: &mut Plugin, key: &str) -> Result<Option<String>, Bad> {
    let label = p.label();
    match p.take(key) {
        None => Ok(None),
        Some(v) => string(&v).map(Some).map_err(|e| Bad::new(&label, key, e)),
    }
}

fn take_duration(p: &mut Plugin, key: &str) -> Result<Option<Duration>, Bad> {
    let label = p.label();
    match p.take(key) {
        None => Ok(None),
        Some(v) => duration(&v).map(Some).map_err(|e| Bad::new(&label, key, e)),
    }
}

/// `urls` (and the old `url`): the first HTTP one; the others in comments.
fn url(s: &mut Section, p: &mut Plugin) -> Result<(), Bad> {
    let label = p.label();
    let mut urls = match p.take("urls") {
        None => Vec::new(),
        Some(v) => strings(&v).map_err(|e| Bad::new(&label, "urls", e))?,
    };
    urls.extend(take_string(p, "url")?);
    if urls.is_empty() {
        s.comment("Telegraf's default URL.");
        urls.push(TELEGRAF_URL.to_string());
    }
    let chosen = urls
        .iter()
        .position(|u| u.starts_with("http://") || u.starts_with("https://"));
    match chosen {
        Some(i) => {
            let (url, had_userinfo) = strip_userinfo(&urls[i]);
            if had_userinfo {
                s.comment("The URL's user info was left out: use username and password_file.");
            }
            env_note(s, "url", &url);
            s.key("url", url);
        }
        None => s.comment(
            "No http:// or https:// URL in Telegraf's urls (vcollect writes over HTTP only): set \
             url.",
        ),
    }
    for (j, u) in urls.iter().enumerate() {
        if Some(j) != chosen {
            let (u, _) = strip_userinfo(u);
            s.comment(format!(
                "urls: {u} not carried over: vcollect writes to one HTTP URL (Telegraf wrote \
                 each batch to one of its urls)."
            ));
        }
    }
    Ok(())
}

/// A URL without `user:password@`, and whether it had one.
fn strip_userinfo(url: &str) -> (String, bool) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), false);
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((_, host)) => (format!("{scheme}://{host}{}", &rest[end..]), true),
        None => (url.to_string(), false),
    }
}

/// `timeout` and `content_encoding`, common to both.
fn common(s: &mut Section, p: &mut Plugin) -> Result<(), Bad> {
    timeout(s, p)?;
    match take_string(p, "content_encoding")?.as_deref() {
        None => {}
        Some("gzip") => s.key("gzip", true),
        Some("identity") | Some("") => s.key("gzip", false),
        Some(other) => s.comment(format!(
            "content_encoding = {other:?} not carried over: vcollect offers gzip or none (gzip)."
        )),
    }
    Ok(())
}

fn v1(s: &mut Section, p: &mut Plugin, dir: &Path) -> Result<(), Bad> {
    url(s, p)?;
    match take_string(p, "database")?.filter(|d| !d.is_empty()) {
        Some(db) => {
            env_note(s, "database", &db);
            s.key("database", db);
        }
        None => {
            s.comment("Telegraf's default database (vcollect's own default is \"vsphere\").");
            s.key("database", TELEGRAF_DATABASE);
        }
    }
    if let Some(rp) = take_string(p, "retention_policy")?.filter(|r| !r.is_empty()) {
        s.key("retention_policy", rp);
    }
    let user = take_string(p, "username")?.filter(|u| !u.is_empty());
    let password = take_string(p, "password")?;
    match &user {
        Some(u) => {
            env_note(s, "username", u);
            s.key("username", u.as_str());
        }
        None if password.as_deref().is_some_and(|p| !p.is_empty()) => s.comment(
            "Telegraf's output has a password but no username: vcollect needs both for \
             InfluxDB 1.x authentication; the password is not carried over.",
        ),
        None => {}
    }
    if user.is_some() {
        let spec = SecretSpec {
            key: "password",
            from: "The InfluxDB password",
            stem: "influxdb",
            required: true,
        };
        secret(s, &spec, password.as_deref(), dir);
    }
    common(s, p)
}

fn v2(s: &mut Section, p: &mut Plugin, dir: &Path) -> Result<(), Bad> {
    url(s, p)?;
    for (tkey, vkey) in [("organization", "org"), ("bucket", "bucket")] {
        match take_string(p, tkey)?.filter(|v| !v.is_empty()) {
            Some(v) => {
                env_note(s, vkey, &v);
                s.key(vkey, v);
            }
            None => s.comment(format!(
                "Telegraf's `{tkey}` is empty or unset: set {vkey} (vcollect requires it)."
            )),
        }
    }
    let token = take_string(p, "token")?;
    let spec = SecretSpec {
        key: "token",
        from: "The InfluxDB token",
        stem: "influxdb",
        required: true,
    };
    secret(s, &spec, token.as_deref(), dir);
    common(s, p)
}
