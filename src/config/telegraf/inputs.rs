//! The connection keys of `[[inputs.vsphere]]` blocks → one `[[vcenter]]` per URL.
//!
//! vcollect's `name` (the `vcenter` tag) defaults to the URL's host exactly as Telegraf's tag,
//! so it is only written when two URLs share a host.

use std::path::Path;
use std::time::Duration;

use super::credentials::{env_note, secret, SecretSpec};
use super::render::Section;
use super::source::{Bad, Plugin};
use super::values::{
    boolean, duration, file_stem, fmt_duration, in_range, percent_decode, string, strings,
};
use crate::config::ranges;
use crate::config::url_host;

/// A block's connection settings, shared by all its URLs.
#[derive(Default)]
struct Conn {
    username: Option<String>,
    password: Option<String>,
    ca_file: Option<String>,
    insecure: bool,
    timeout: Option<Duration>,
}

/// A vCenter URL completed as Telegraf completes it (`https://` and `/sdk` added when
/// missing), its user info taken out.
struct VcUrl {
    url: String,
    user: Option<String>,
    password: Option<String>,
}

/// A `[[vcenter]]` already written, to find a URL listed twice.
struct WrittenVcenter {
    url: String,
    name: String,
    section: usize,
}

/// One `[[vcenter]]` section per distinct URL, in file order; each block learns the names
/// of its vCenters (`Plugin::hosts`).
pub(super) fn vcenters(blocks: &mut [Plugin], dir: &Path) -> Result<Vec<Section>, Bad> {
    let mut sections: Vec<Section> = Vec::new();
    let mut written: Vec<WrittenVcenter> = Vec::new();
    for b in blocks.iter_mut() {
        let label = b.label();
        let urls = match b.take("vcenters") {
            None => Vec::new(),
            Some(v) => strings(&v).map_err(|p| Bad::new(&label, "vcenters", p))?,
        };
        let conn = take_conn(b, &label)?;
        if urls.is_empty() {
            let mut s = Section::comments();
            s.comment(format!(
                "{label} lists no vcenters: nothing to carry over from it."
            ));
            sections.push(s);
        }
        for raw in urls {
            let u = parse_url(&raw);
            if let Some(w) = written.iter().find(|w| w.url == u.url) {
                sections[w.section].comment(format!(
                    "Also listed in {label}: collected once; that block's credentials and TLS \
                     settings are not used."
                ));
                b.hosts.push(w.name.clone());
                continue;
            }
            let host = url_host(&u.url)
                .ok_or_else(|| Bad::new(&label, "vcenters", format!("{raw:?} has no host")))?;
            let mut name = host.clone();
            let mut k = 2;
            while written.iter().any(|w| w.name == name) {
                name = format!("{host}-{k}");
                k += 1;
            }
            let s = vcenter_section(&label, &conn, &u, &host, &name, dir);
            written.push(WrittenVcenter {
                url: u.url.clone(),
                name: name.clone(),
                section: sections.len(),
            });
            sections.push(s);
            b.hosts.push(name);
        }
    }
    if written.is_empty() {
        return Err(Bad::new(
            "[[inputs.vsphere]]",
            "vcenters",
            "no block lists a vCenter URL",
        ));
    }
    Ok(sections)
}

fn vcenter_section(
    label: &str,
    conn: &Conn,
    u: &VcUrl,
    host: &str,
    name: &str,
    dir: &Path,
) -> Section {
    let mut s = Section::table("[[vcenter]]");
    s.comment(format!("From {label}."));
    if name != host {
        s.comment(format!(
            "Another URL has the same host: this one needs a name of its own (Telegraf tagged \
             both vcenter={host})."
        ));
        s.key("name", name);
    }
    env_note(&mut s, "url", &u.url);
    s.key("url", u.url.as_str());
    // Telegraf uses the URL's user info only when `username` is not set.
    let (user, password) = match &conn.username {
        Some(user) => {
            if u.user.is_some() || u.password.is_some() {
                s.comment("The URL's user info was left out: Telegraf uses username and password.");
            }
            (Some(user.clone()), conn.password.as_deref())
        }
        None => match &u.user {
            Some(user) => {
                s.comment("The user name and password were in the URL: moved out of it.");
                (Some(user.clone()), u.password.as_deref())
            }
            None => (None, conn.password.as_deref()),
        },
    };
    match user {
        Some(user) => {
            env_note(&mut s, "username", &user);
            s.key("username", user);
        }
        None => s.comment("Telegraf's block has no username: set one (username = \"...\")."),
    }
    let spec = SecretSpec {
        key: "password",
        from: "The vCenter password",
        stem: &file_stem(name),
        required: true,
    };
    secret(&mut s, &spec, password, dir);
    if let Some(ca) = &conn.ca_file {
        env_note(&mut s, "ca_file", ca);
        s.key("ca_file", ca.as_str());
    }
    if conn.insecure {
        s.key("insecure", true);
    }
    if let Some(t) = conn.timeout {
        let (t, note) = in_range("timeout", t, &ranges::CALL_TIMEOUT, fmt_duration);
        if let Some(note) = note {
            s.comment(note);
        }
        s.key("timeout", fmt_duration(t));
    }
    s
}

/// Takes the connection keys out of a block.
fn take_conn(b: &mut Plugin, label: &str) -> Result<Conn, Bad> {
    let bad = |key: &'static str| move |p: String| Bad::new(label, key, p);
    let mut c = Conn::default();
    if let Some(v) = b.take("username") {
        c.username = Some(string(&v).map_err(bad("username"))?).filter(|u| !u.is_empty());
    }
    if let Some(v) = b.take("password") {
        c.password = Some(string(&v).map_err(bad("password"))?);
    }
    // `ssl_ca` is the name sample.conf still shows (removed from Telegraf in 1.35).
    for key in ["ssl_ca", "tls_ca"] {
        if let Some(v) = b.take(key) {
            c.ca_file = Some(string(&v).map_err(bad(key))?).filter(|p| !p.is_empty());
        }
    }
    if let Some(v) = b.take("insecure_skip_verify") {
        c.insecure = boolean(&v).map_err(bad("insecure_skip_verify"))?;
    }
    if let Some(v) = b.take("timeout") {
        c.timeout = Some(duration(&v).map_err(bad("timeout"))?);
    }
    Ok(c)
}

/// Completes a URL as govmomi's `soap.ParseURL` does for Telegraf and moves its user info
/// out (a password must not stay in the URL).
fn parse_url(raw: &str) -> VcUrl {
    let raw = raw.trim();
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("https://{raw}")
    };
    let trimmed = with_scheme.trim_end_matches('/');
    let (scheme, rest) = trimmed.split_once("://").unwrap_or(("https", trimmed));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((ui, h)) => (Some(ui), h),
        None => (None, authority),
    };
    let path = if path.is_empty() { "/sdk" } else { path };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(ui) => match ui.split_once(':') {
            Some((u, p)) => (Some(percent_decode(u)), Some(percent_decode(p))),
            None => (Some(percent_decode(ui)), None),
        },
    };
    VcUrl {
        url: format!("{scheme}://{hostport}{path}"),
        user: user.filter(|u| !u.is_empty()),
        password,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_completed_as_telegraf_does_and_lose_their_user_info() {
        let u = parse_url("vc1.example.com");
        assert_eq!(u.url, "https://vc1.example.com/sdk");
        let u = parse_url("https://admin%40vsphere.local:s3cr%3At@VC2:443/sdk/");
        assert_eq!(u.url, "https://VC2:443/sdk");
        assert_eq!(u.user.as_deref(), Some("admin@vsphere.local"));
        assert_eq!(u.password.as_deref(), Some("s3cr:t"));
        assert_eq!(url_host(&u.url).as_deref(), Some("VC2:443"));
    }
}
