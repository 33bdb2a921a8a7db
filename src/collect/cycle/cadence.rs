//! Windows: what to ask vCenter for, per entity, in one cycle (`calls` groups them into
//! QueryPerf calls within vCenter's limits).

/// Realtime statistics are sampled every 20 seconds.
pub const REALTIME_INTERVAL: i64 = 20;

/// vCenter keeps realtime samples for one hour.
pub const REALTIME_RETENTION: i64 = 3600;

/// vCenter keeps its first historical level ("past day") for a day.
pub const HISTORICAL_RETENTION: i64 = 86_400;

/// How many historical intervals back a historical kind's first window starts when nothing
/// was collected before (no watermark): vCenter posts a rolled-up sample only after its
/// interval closed, often minutes and sometimes more than 30 minutes later (Telegraf #4789,
/// #9045), so a window of one interval usually holds nothing. Telegraf starts
/// `metric_lookback` (3) intervals back; 6 (30 minutes at 300 s) reaches samples posted up
/// to 25 minutes late and stays within the 30 minutes the API reference names for fast
/// 5-minute queries ("Raw data feed workaround").
pub const FIRST_HISTORICAL_INTERVALS: i64 = 6;

/// How often a kind's samples are taken and how long vCenter keeps them: realtime (20 s for
/// an hour) for VMs and hosts, the first historical interval (300 s for a day by default) for
/// clusters, datastores, datacenters and resource pools. Samples sit on the interval's grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cadence {
    /// Seconds between samples; also the QueryPerf `intervalId`.
    pub interval: i64,
    /// Seconds vCenter keeps samples of this interval.
    pub retention: i64,
    /// How far back a first window (no progress known) reaches at least: one interval for
    /// realtime samples, [`FIRST_HISTORICAL_INTERVALS`] for historical ones.
    pub first_back: i64,
}

/// VMs and hosts.
pub const REALTIME: Cadence = Cadence {
    interval: REALTIME_INTERVAL,
    retention: REALTIME_RETENTION,
    first_back: REALTIME_INTERVAL,
};

impl Cadence {
    /// The historical kinds' cadence for vCenter's first historical interval.
    pub fn historical(interval_secs: i64) -> Cadence {
        let interval = interval_secs.max(1);
        Cadence {
            interval,
            retention: HISTORICAL_RETENTION,
            first_back: FIRST_HISTORICAL_INTERVALS * interval,
        }
    }

    /// The end of this cycle's window: vCenter's clock rounded down to the grid.
    pub fn window_end(self, server_now: i64) -> i64 {
        server_now - server_now.rem_euclid(self.interval)
    }

    /// The start (exclusive) of an entity's window: its last collected sample, else its
    /// bucket's watermark, else `end - lookback` (at least [`Self::first_back`]: for a
    /// historical kind, far enough to reach the newest sample vCenter rolled up); never
    /// older than what vCenter keeps.
    pub fn window_start(self, end: i64, last: Option<i64>, lookback_secs: i64) -> i64 {
        let start = last.unwrap_or(end - lookback_secs.max(self.first_back));
        start.max(end - self.retention)
    }

    /// `maxSample` for a window: the number of samples in `(start, end]`, plus one for a
    /// server that also returns the sample at `start` (the API reference says it does not;
    /// the encoder drops it if it comes): vCenter keeps the newest `maxSample` samples, so
    /// asking one fewer from such a server would lose the oldest one wanted.
    pub fn max_samples(self, start: i64, end: i64) -> u32 {
        let n = (end - start).max(0) / self.interval + 1;
        n.clamp(1, self.retention / self.interval + 1) as u32
    }

    /// Whether a kind of this cadence is due in a cycle whose window ends at `end`, when its
    /// last query was for a window ending at `queried_end`: at most once per interval. A
    /// realtime kind is due every cycle (its windows are as long as the cycle interval).
    pub fn due(self, end: i64, queried_end: Option<i64>) -> bool {
        queried_end.is_none_or(|q| end > q)
    }
}

/// How far an entity's collection got in a cycle, for its bucket's watermark: the newest of
/// its samples now in the sink (`written`), else where its window started. An entity that
/// vCenter answered nothing for does not advance: its samples may still come, late (vCenter
/// posts realtime samples 20-40 s behind its clock, minutes behind a busy or reconnecting
/// host, and historical ones sometimes more than 30 minutes late). `start` is never older
/// than what vCenter keeps ([`Cadence::window_start`]), so an entity silent for longer than
/// that stops holding its bucket back.
pub fn entity_reached(start: i64, written: Option<i64>) -> i64 {
    written.map_or(start, |w| w.max(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_and_capped() {
        let r = REALTIME;
        assert_eq!(r.window_end(1_000_019), 1_000_000);
        assert_eq!(r.window_end(1_000_000), 1_000_000);
        assert_eq!(r.window_start(10_000, None, 300), 9_700);
        assert_eq!(r.window_start(10_000, Some(9_980), 300), 9_980);
        assert_eq!(r.window_start(10_000, Some(1_000), 300), 10_000 - 3600);
        assert_eq!(r.max_samples(9_700, 10_000), 16);
        assert_eq!(r.max_samples(0, 100_000), 181);
    }

    #[test]
    fn historical_windows_follow_the_servers_interval() {
        let h = Cadence::historical(300);
        assert_eq!(h.window_end(1_000_299), 1_000_200);
        // The first window reaches six intervals back, whatever the lookback (shorter).
        assert_eq!(h.window_start(1_000_200, None, 60), 1_000_200 - 1_800);
        assert_eq!(h.window_start(1_000_200, None, 7_200), 1_000_200 - 7_200);
        // A day back at most, a day's samples (+1 for the one at start) at most.
        assert_eq!(h.window_start(1_000_200, Some(0), 60), 1_000_200 - 86_400);
        assert_eq!(h.max_samples(999_900, 1_000_200), 2);
        assert_eq!(h.max_samples(0, 10_000_000), 289);
        // Due once per interval: the same window end is not asked twice.
        assert!(h.due(1_000_200, None));
        assert!(!h.due(1_000_200, Some(1_000_200)));
        assert!(h.due(1_000_500, Some(1_000_200)));
    }

    #[test]
    fn an_entity_without_new_samples_does_not_advance() {
        assert_eq!(entity_reached(9_980, None), 9_980);
        assert_eq!(entity_reached(9_980, Some(10_040)), 10_040);
        // Silent for longer than retention: its start, hence the bucket, follows vCenter's
        // clock minus one hour.
        let end = 100_000;
        assert_eq!(
            entity_reached(REALTIME.window_start(end, Some(1_000), 300), None),
            end - REALTIME_RETENTION
        );
    }
}
