//! One vCenter's bound on the metrics of a historical QueryPerf call: what its
//! administrator set (`config.vpxd.stats.maxQueryMetrics`, read at login), what the
//! configuration allows (`collect.max_query_metrics`, which can only lower it), and what a
//! refusal taught (a vCenter may count differently than planned: it then refuses a call
//! with `RestrictedByAdministrator`, which is cut and asked again, and later calls are
//! planned below the refused size). What a refusal taught is kept in
//! `<data_dir>/query-limits.json`, so a restarted node does not pay the refusal again.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::vsphere::{Error, MAX_QUERY_METRICS_OPTION};

/// vCenter's maxQueryMetrics when the option is absent or unreadable: the default since
/// vCenter 6.5 (64 before; Telegraf's README, VMware KB 2107096).
pub const DEFAULT_MAX_QUERY_METRICS: usize = 256;

/// What the server said its limit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerLimit {
    /// A positive value of the option.
    Set(usize),
    /// `-1` (or 0, or any negative value): no limit.
    Unlimited,
    /// Absent, unreadable or not a number: vCenter's default applies.
    Default,
}

impl ServerLimit {
    /// From the option's value as read (`Client::option_int`).
    pub fn from_option(read: &Result<Option<i64>, Error>) -> ServerLimit {
        match read {
            Ok(Some(n)) if *n > 0 => ServerLimit::Set(usize::try_from(*n).unwrap_or(usize::MAX)),
            Ok(Some(_)) => ServerLimit::Unlimited,
            Ok(None) | Err(_) => ServerLimit::Default,
        }
    }
}

/// A bound a refusal taught, with the server's value it was learned under: it holds while
/// vCenter reports the same value (an administrator who changes the option is believed
/// again, and a new refusal teaches a new bound).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Learned {
    pub server: ServerLimit,
    pub bound: usize,
}

/// The historical-call limit of one vCenter.
#[derive(Debug)]
pub struct QueryLimits {
    server: ServerLimit,
    configured: Option<usize>,
    /// Below the smallest call vCenter refused (kept across sessions and restarts while the
    /// server reports the value it was learned under).
    learned: Option<Learned>,
    /// The refusal was logged at warn level once already.
    warned: bool,
}

impl QueryLimits {
    /// `remembered`: what an earlier run learned of this vCenter ([`LearnedFile`]); it
    /// applies from the first login that reads the same server value.
    pub fn new(configured: Option<usize>, remembered: Option<Learned>) -> QueryLimits {
        QueryLimits {
            server: ServerLimit::Default,
            configured,
            learned: remembered,
            warned: false,
        }
    }

    /// Takes the server's value read at login, logs the limit in force. A learned bound
    /// from another server value is forgotten (returns `true`: the caller saves that).
    pub fn read(&mut self, vcenter: &str, read: Result<Option<i64>, Error>) -> bool {
        self.server = ServerLimit::from_option(&read);
        if let Err(e) = &read {
            tracing::warn!(vcenter, option = MAX_QUERY_METRICS_OPTION, error = %e,
                default = DEFAULT_MAX_QUERY_METRICS, "could not read the option: assuming vCenter's default");
        }
        let forgot = self.learned.is_some_and(|l| l.server != self.server);
        if forgot {
            tracing::info!(vcenter, option = MAX_QUERY_METRICS_OPTION, server = ?self.server,
                "the option changed since a call was refused: the bound learned then is forgotten");
            self.learned = None;
        } else if let Some(l) = self.learned {
            tracing::info!(
                vcenter,
                bound = l.bound,
                "planning historical calls below the bound an earlier refusal taught"
            );
        }
        tracing::info!(vcenter, option = MAX_QUERY_METRICS_OPTION, server = ?self.server,
            configured = ?self.configured, limit = ?self.historical(), "historical query limit");
        forgot
    }

    /// The bound a refusal taught, to keep across restarts.
    pub fn learned(&self) -> Option<Learned> {
        self.learned
    }

    /// The metrics (entity x metric id) a historical call may ask; `None`: no limit.
    pub fn historical(&self) -> Option<usize> {
        let server = match self.server {
            ServerLimit::Set(n) => Some(n),
            ServerLimit::Unlimited => None,
            ServerLimit::Default => Some(DEFAULT_MAX_QUERY_METRICS),
        };
        [server, self.configured, self.learned.map(|l| l.bound)]
            .into_iter()
            .flatten()
            .min()
    }

    /// vCenter refused a call asking `cost` historical metrics: plan below half of it from
    /// now on (the call's halves are asked again at once). Logged once at warn level, with
    /// what an administrator can do; later refusals at debug. Returns `true` when the bound
    /// changed (the caller saves it).
    pub fn refused(&mut self, vcenter: &str, cost: usize) -> bool {
        let bound = (cost / 2).max(1);
        if self.learned.is_some_and(|l| l.bound <= bound) {
            return false;
        }
        self.learned = Some(Learned {
            server: self.server,
            bound,
        });
        if !self.warned {
            self.warned = true;
            tracing::warn!(
                vcenter,
                option = MAX_QUERY_METRICS_OPTION,
                refused = cost,
                bound,
                "vCenter refused a historical QueryPerf call (RestrictedByAdministrator): \
                 asking again in smaller calls, at most {bound} metrics each from now on; \
                 nothing is lost. An administrator can raise the vCenter advanced setting \
                 {MAX_QUERY_METRICS_OPTION} (vCenter's Advanced Settings; -1: no limit), which vcollect \
                 reads at its next login"
            );
        } else {
            tracing::debug!(
                vcenter,
                refused = cost,
                bound,
                "historical query limit lowered again"
            );
        }
        true
    }
}

/// The learned bounds of every vCenter of a node, in `<data_dir>/query-limits.json`
/// (a few bytes per vCenter, rewritten atomically when a bound changes: rarely).
pub struct LearnedFile {
    path: PathBuf,
    bounds: Mutex<BTreeMap<String, Learned>>,
}

const LEARNED_FILE: &str = "query-limits.json";

impl LearnedFile {
    /// Reads the file; one that is missing or unreadable starts empty (logged: the cost is
    /// one refusal more, which is asked again in halves).
    pub fn open(data_dir: &Path) -> LearnedFile {
        let path = data_dir.join(LEARNED_FILE);
        let bounds = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::warn!(file = %path.display(), error = %e, "cannot parse the learned query limits: starting without them");
                BTreeMap::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot read the learned query limits: starting without them");
                BTreeMap::new()
            }
        };
        LearnedFile {
            path,
            bounds: Mutex::new(bounds),
        }
    }

    pub fn get(&self, vcenter: &str) -> Option<Learned> {
        let b = self.bounds.lock().unwrap_or_else(|p| p.into_inner());
        b.get(vcenter).copied()
    }

    /// Keeps (or with `None` forgets) `vcenter`'s bound. A failure is logged, never fatal.
    pub fn set(&self, vcenter: &str, learned: Option<Learned>) {
        let snapshot = {
            let mut b = self.bounds.lock().unwrap_or_else(|p| p.into_inner());
            match learned {
                Some(l) => b.insert(vcenter.to_string(), l),
                None => b.remove(vcenter),
            };
            b.clone()
        };
        if let Err(e) = self.save(&snapshot) {
            tracing::warn!(file = %self.path.display(), error = %e, "cannot save the learned query limits");
        }
    }

    fn save(&self, b: &BTreeMap<String, Learned>) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(b).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_bound_wins_and_the_configuration_only_lowers() {
        let mut l = QueryLimits::new(None, None);
        assert_eq!(l.historical(), Some(256));
        l.read("vc", Ok(Some(1000)));
        assert_eq!(l.historical(), Some(1000));
        l.read("vc", Ok(Some(-1)));
        assert_eq!(l.historical(), None);
        let mut l = QueryLimits::new(Some(5000), None);
        l.read("vc", Ok(Some(64)));
        assert_eq!(l.historical(), Some(64));
        l.read("vc", Ok(None));
        assert_eq!(l.historical(), Some(256));
        let mut l = QueryLimits::new(Some(100), None);
        l.read("vc", Ok(Some(-1)));
        assert_eq!(l.historical(), Some(100));
        l.refused("vc", 90);
        assert_eq!(l.historical(), Some(45));
        l.refused("vc", 200);
        assert_eq!(l.historical(), Some(45));
    }

    #[test]
    fn a_learned_bound_survives_a_restart_while_the_option_is_unchanged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = LearnedFile::open(dir.path());
        let mut l = QueryLimits::new(None, file.get("vc"));
        l.read("vc", Ok(None));
        assert!(l.refused("vc", 200));
        file.set("vc", l.learned());
        assert!(
            !l.refused("vc", 300),
            "a larger refusal teaches nothing new"
        );

        // The next process: the same server value, the bound applies from the login.
        let file = LearnedFile::open(dir.path());
        let mut again = QueryLimits::new(None, file.get("vc"));
        assert!(!again.read("vc", Ok(None)));
        assert_eq!(again.historical(), Some(100));
        assert_eq!(file.get("other"), None);

        // An administrator raised the option: believed again, the bound forgotten.
        let mut raised = QueryLimits::new(None, file.get("vc"));
        assert!(raised.read("vc", Ok(Some(1024))));
        assert_eq!(raised.historical(), Some(1024));
        assert_eq!(raised.learned(), None);
    }

    #[test]
    fn an_unparsable_file_starts_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(LEARNED_FILE), b"{not json").expect("write");
        let file = LearnedFile::open(dir.path());
        assert_eq!(file.get("vc"), None);
        let l = Learned {
            server: ServerLimit::Set(64),
            bound: 32,
        };
        file.set("vc", Some(l));
        assert_eq!(LearnedFile::open(dir.path()).get("vc"), Some(l));
    }
}
