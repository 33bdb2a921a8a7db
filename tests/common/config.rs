//! Writes vcollect configuration files for tests.

use std::path::{Path, PathBuf};

/// One `[[vcenter]]` entry.
pub struct Vc {
    pub name: String,
    pub url: String,
    pub user: String,
    pub password: String,
    pub extra: String,
}

impl Vc {
    pub fn new(name: &str, sim: &super::vcsim::Simulator) -> Vc {
        let (user, password) = sim
            .opts
            .login
            .clone()
            .unwrap_or(("any".into(), "any".into()));
        Vc {
            name: name.into(),
            url: sim.url.clone(),
            user,
            password,
            extra: String::new(),
        }
    }
}

/// Writes `dir/vcollect.toml` (and password files) for `vcenters` and an InfluxDB 1.x sink;
/// `extra` is appended verbatim (e.g. a `[collect]` table). Returns the config path.
pub fn write(dir: &Path, vcenters: &[Vc], influx_url: &str, collect: &str) -> PathBuf {
    let node = format!(
        "[node]\nname = \"test-node\"\ndata_dir = \"{}\"\n",
        dir.join("data").display()
    );
    write_file(dir, "vcollect.toml", &node, vcenters, influx_url, collect)
}

/// Like [`write`], with the `[node]` table given verbatim, written to `dir/file` (password
/// files go to `dir`): nodes of one cluster share everything else.
pub fn write_file(
    dir: &Path,
    file: &str,
    node: &str,
    vcenters: &[Vc],
    influx_url: &str,
    collect: &str,
) -> PathBuf {
    let mut text = format!("{node}\n");
    for vc in vcenters {
        let pw = dir.join(format!("{}.password", vc.name));
        std::fs::write(&pw, format!("{}\n", vc.password)).expect("writing password file");
        text.push_str(&format!(
            "[[vcenter]]\nname = \"{}\"\nurl = \"{}\"\nusername = \"{}\"\npassword_file = \"{}\"\n{}\n\n",
            vc.name,
            vc.url,
            vc.user,
            pw.display(),
            vc.extra
        ));
    }
    text.push_str(&format!(
        "{collect}\n\n[output]\nurl = \"{influx_url}\"\ndatabase = \"vsphere\"\n"
    ));
    let path = dir.join(file);
    std::fs::write(&path, text).expect("writing vcollect.toml");
    path
}
