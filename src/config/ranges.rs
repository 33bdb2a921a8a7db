//! The accepted range of every duration and size in the file, and the checks that name the
//! key when a value is outside it. A value out of range is a typo or an attack (a
//! `heartbeat_interval` of 2^63 s used to overflow in validation); the bounds are wide enough
//! for every sane deployment and keep arithmetic on them free of overflow.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::time::Duration;

use super::{Check, ConfigError};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// `cluster.heartbeat_interval`.
pub(super) const HEARTBEAT: RangeInclusive<Duration> = Duration::from_millis(10)..=MIN;
/// `cluster.election_timeout` (also more than twice the heartbeat).
pub(super) const ELECTION: RangeInclusive<Duration> =
    Duration::from_millis(20)..=Duration::from_secs(600);
/// `cluster.failure_timeout`.
pub(super) const FAILURE: RangeInclusive<Duration> = Duration::from_millis(100)..=HOUR;
/// `vcenter[].timeout` and `output.timeout`: per call.
/// `vcenter[].max_concurrent_queries`.
pub(super) const CONCURRENT_QUERIES: RangeInclusive<usize> = 1..=1_000;
pub(super) const CALL_TIMEOUT: RangeInclusive<Duration> = Duration::from_millis(100)..=HOUR;
/// `collect.interval`.
pub(super) const INTERVAL: RangeInclusive<Duration> = SEC..=HOUR;
/// `collect.lookback`: vCenter keeps realtime (20 s) samples for one hour.
pub(super) const LOOKBACK: RangeInclusive<Duration> = SEC..=HOUR;
/// `collect.historical_interval`: vCenter's historical intervals are 5 min to 1 day.
pub(super) const HISTORICAL: RangeInclusive<Duration> = MIN..=DAY;
/// `collect.discovery_interval`.
pub(super) const DISCOVERY: RangeInclusive<Duration> = SEC..=DAY;

/// `cluster.max_voters`.
pub(super) const MAX_VOTERS: RangeInclusive<usize> = 1..=99;
/// `cluster.bootstrap_expect`.
pub(super) const BOOTSTRAP_EXPECT: RangeInclusive<usize> = 1..=99;
/// `collect.max_query_entities`.
pub(super) const QUERY_ENTITIES: RangeInclusive<usize> = 1..=100_000;
/// `collect.max_query_metrics`.
pub(super) const QUERY_METRICS: RangeInclusive<usize> = 1..=10_000_000;
/// `collect.concurrency`.
pub(super) const CONCURRENCY: RangeInclusive<usize> = 1..=1024;
/// `output.max_retries`.
pub(super) const MAX_RETRIES: RangeInclusive<u32> = 0..=1000;
/// `output.batch_lines`.
pub(super) const BATCH_LINES: RangeInclusive<usize> = 1..=10_000_000;
/// `output.batch_bytes`.
pub(super) const BATCH_BYTES: RangeInclusive<usize> = 1..=(1 << 30);
/// `output.spool_max_bytes`: up to 16 TiB.
pub(super) const SPOOL_BYTES: RangeInclusive<u64> = 0..=(16 << 40);

fn show(d: Duration) -> String {
    if d < SEC && d >= MS {
        return format!("{}ms", d.as_millis());
    }
    humantime::format_duration(d).to_string()
}

impl Check<'_> {
    /// A duration (or its default) inside `range`; the error names the key and the bounds.
    pub(super) fn duration_in(
        &self,
        key: &str,
        v: Option<Duration>,
        default: Duration,
        range: RangeInclusive<Duration>,
    ) -> Result<Duration, ConfigError> {
        let d = v.unwrap_or(default);
        if d.is_zero() {
            return Err(self.err(key, "must be greater than zero"));
        }
        if !range.contains(&d) {
            return Err(self.err(
                key,
                format!(
                    "is {}, must be between {} and {}",
                    show(d),
                    show(*range.start()),
                    show(*range.end())
                ),
            ));
        }
        Ok(d)
    }

    /// A count or size (or its default) inside `range`; the error names the key and the
    /// bounds.
    pub(super) fn number_in<T: PartialOrd + Display + Copy>(
        &self,
        key: &str,
        v: Option<T>,
        default: T,
        range: RangeInclusive<T>,
    ) -> Result<T, ConfigError> {
        let n = v.unwrap_or(default);
        if !range.contains(&n) {
            return Err(self.err(
                key,
                format!(
                    "is {n}, must be between {} and {}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(n)
    }
}
