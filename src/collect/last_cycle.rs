//! The last cycle of each vCenter on a standalone node, kept in `<data_dir>/last-cycle.json`.
//!
//! A node without `[cluster]` has no peer to ask, so `vcollect health` (and `/healthz`)
//! judge it from what its own agent last did: every configured vCenter collected recently
//! and without errors. The agent rewrites the file after each cycle (a few hundred bytes,
//! atomically), so a reader never sees half of it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::summary::CycleSummary;

const FILE: &str = "last-cycle.json";

/// What one vCenter's last cycle did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastCycle {
    /// When it ended (unix seconds).
    pub at: i64,
    pub samples: u64,
    pub duration_ms: u64,
    /// Its first error, when it had any.
    pub error: Option<String>,
}

/// The recorder the standalone agent writes through.
pub struct LastCycles {
    path: PathBuf,
    cycles: Mutex<BTreeMap<String, LastCycle>>,
}

impl LastCycles {
    pub fn new(data_dir: &Path) -> LastCycles {
        let path = data_dir.join(FILE);
        let cycles = load(data_dir).unwrap_or_default();
        LastCycles {
            path,
            cycles: Mutex::new(cycles),
        }
    }

    /// Records `s` (ended now) and rewrites the file. A failure is logged, never fatal:
    /// the file only serves `health`.
    pub fn record(&self, s: &CycleSummary) {
        let snapshot = {
            let mut c = self.cycles.lock().unwrap_or_else(|p| p.into_inner());
            c.insert(
                s.vcenter.clone(),
                LastCycle {
                    at: chrono::Utc::now().timestamp(),
                    samples: s.samples,
                    duration_ms: s.duration.as_millis() as u64,
                    error: s.errors.first().cloned(),
                },
            );
            c.clone()
        };
        if let Err(e) = self.save(&snapshot) {
            tracing::warn!(file = %self.path.display(), error = %e, "cannot save the last cycle");
        }
    }

    fn save(&self, c: &BTreeMap<String, LastCycle>) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(c).map_err(std::io::Error::other)?)?;
        std::fs::rename(&tmp, &self.path)
    }
}

/// The last cycles recorded under `data_dir`.
pub fn load(data_dir: &Path) -> std::io::Result<BTreeMap<String, LastCycle>> {
    let bytes = std::fs::read(data_dir.join(FILE))?;
    serde_json::from_slice(&bytes).map_err(std::io::Error::other)
}

/// The health of a standalone node: `Ok(one line)` when every vCenter in `vcenters` had a
/// cycle without errors within three intervals (at least a minute) of `now`;
/// `Err(one line saying why not)`.
pub fn verdict(
    data_dir: &Path,
    vcenters: &[String],
    interval: Duration,
    now: i64,
) -> Result<String, String> {
    let cycles = load(data_dir).map_err(|e| {
        format!(
            "standalone node: no last cycle in {} ({e}): has the agent run yet?",
            data_dir.join(FILE).display()
        )
    })?;
    let limit = (interval.as_secs() * 3).max(60) as i64;
    let mut samples = 0;
    for vc in vcenters {
        let Some(c) = cycles.get(vc) else {
            return Err(format!("standalone node: vCenter {vc} has no cycle yet"));
        };
        let age = now - c.at;
        if age > limit {
            return Err(format!(
                "standalone node: vCenter {vc}: last cycle {age}s ago (interval {}s): is the \
                 agent running?",
                interval.as_secs()
            ));
        }
        if let Some(e) = &c.error {
            return Err(format!(
                "standalone node: vCenter {vc}: last cycle failed: {e}"
            ));
        }
        samples += c.samples;
    }
    Ok(format!(
        "healthy: standalone node, {} vCenter(s) collected {samples} samples in their last cycle",
        vcenters.len()
    ))
}

/// [`verdict`] for this configuration, now.
pub fn standalone_health(cfg: &crate::config::Config) -> Result<String, String> {
    let names: Vec<String> = cfg.vcenters.iter().map(|v| v.name.clone()).collect();
    verdict(
        &cfg.node.data_dir,
        &names,
        cfg.collect.interval,
        chrono::Utc::now().timestamp(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(vc: &str, error: Option<&str>) -> CycleSummary {
        let mut s = CycleSummary::new(vc);
        s.samples = 7;
        s.errors.extend(error.map(String::from));
        s
    }

    #[test]
    fn healthy_only_when_every_vcenter_collected_recently_without_errors() {
        let dir = tempfile::tempdir().unwrap();
        let vcs = vec!["a".to_string(), "b".to_string()];
        let i = Duration::from_secs(20);
        let now = chrono::Utc::now().timestamp();
        let err = verdict(dir.path(), &vcs, i, now).unwrap_err();
        assert!(err.contains("has the agent run yet"), "{err}");
        let rec = LastCycles::new(dir.path());
        rec.record(&summary("a", None));
        let err = verdict(dir.path(), &vcs, i, now).unwrap_err();
        assert!(err.contains("vCenter b has no cycle yet"), "{err}");
        rec.record(&summary("b", Some("login refused")));
        let err = verdict(dir.path(), &vcs, i, now).unwrap_err();
        assert!(err.contains("b: last cycle failed: login refused"), "{err}");
        rec.record(&summary("b", None));
        let ok = verdict(dir.path(), &vcs, i, now).unwrap();
        assert!(ok.contains("collected 14 samples"), "{ok}");
        let err = verdict(dir.path(), &vcs, i, now + 120).unwrap_err();
        assert!(err.contains("is the agent running"), "{err}");
    }
}
