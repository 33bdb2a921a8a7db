//! One vCenter's bound on the metrics of a historical QueryPerf call: what its
//! administrator set (`config.vpxd.stats.maxQueryMetrics`, read at login), what the
//! configuration allows (`collect.max_query_metrics`, which can only lower it), and what a
//! refusal taught (a vCenter may count differently than planned: it then refuses a call
//! with `RestrictedByAdministrator`, which is cut and asked again, and later calls are
//! planned below the refused size).

use crate::vsphere::{Error, MAX_QUERY_METRICS_OPTION};

/// vCenter's maxQueryMetrics when the option is absent or unreadable: the default since
/// vCenter 6.5 (64 before; Telegraf's README, VMware KB 2107096).
pub const DEFAULT_MAX_QUERY_METRICS: usize = 256;

/// What the server said its limit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// The historical-call limit of one vCenter.
#[derive(Debug)]
pub struct QueryLimits {
    server: ServerLimit,
    configured: Option<usize>,
    /// Below the smallest call vCenter refused (kept across sessions: an administrator's
    /// setting does not change with a login, and a raised one is read at the next login).
    learned: Option<usize>,
    /// The refusal was logged at warn level once already.
    warned: bool,
}

impl QueryLimits {
    pub fn new(configured: Option<usize>) -> QueryLimits {
        QueryLimits {
            server: ServerLimit::Default,
            configured,
            learned: None,
            warned: false,
        }
    }

    /// Takes the server's value read at login, logs the limit in force.
    pub fn read(&mut self, vcenter: &str, read: Result<Option<i64>, Error>) {
        self.server = ServerLimit::from_option(&read);
        if let Err(e) = &read {
            tracing::warn!(vcenter, option = MAX_QUERY_METRICS_OPTION, error = %e,
                default = DEFAULT_MAX_QUERY_METRICS, "could not read the option: assuming vCenter's default");
        }
        tracing::info!(vcenter, option = MAX_QUERY_METRICS_OPTION, server = ?self.server,
            configured = ?self.configured, limit = ?self.historical(), "historical query limit");
    }

    /// The metrics (entity x metric id) a historical call may ask; `None`: no limit.
    pub fn historical(&self) -> Option<usize> {
        let server = match self.server {
            ServerLimit::Set(n) => Some(n),
            ServerLimit::Unlimited => None,
            ServerLimit::Default => Some(DEFAULT_MAX_QUERY_METRICS),
        };
        [server, self.configured, self.learned]
            .into_iter()
            .flatten()
            .min()
    }

    /// vCenter refused a call asking `cost` historical metrics: plan below half of it from
    /// now on (the call's halves are asked again at once). Logged once at warn level, with
    /// what an administrator can do; later refusals at debug.
    pub fn refused(&mut self, vcenter: &str, cost: usize) {
        let bound = (cost / 2).max(1);
        if self.learned.is_some_and(|l| l <= bound) {
            return;
        }
        self.learned = Some(bound);
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_bound_wins_and_the_configuration_only_lowers() {
        let mut l = QueryLimits::new(None);
        assert_eq!(l.historical(), Some(256));
        l.read("vc", Ok(Some(1000)));
        assert_eq!(l.historical(), Some(1000));
        l.read("vc", Ok(Some(-1)));
        assert_eq!(l.historical(), None);
        let mut l = QueryLimits::new(Some(5000));
        l.read("vc", Ok(Some(64)));
        assert_eq!(l.historical(), Some(64));
        l.read("vc", Ok(None));
        assert_eq!(l.historical(), Some(256));
        let mut l = QueryLimits::new(Some(100));
        l.read("vc", Ok(Some(-1)));
        assert_eq!(l.historical(), Some(100));
        l.refused("vc", 90);
        assert_eq!(l.historical(), Some(45));
        l.refused("vc", 200);
        assert_eq!(l.historical(), Some(45));
    }
}
