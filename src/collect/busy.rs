//! A vCenter that turns calls away because it is busy: its reverse proxy (envoy since
//! vCenter 7, rhttpproxy before) answers HTTP 503 when vpxd is saturated, and refuses
//! connections while it restarts. Such a call was not processed, so it is sent again within
//! the cycle after a backoff, and nothing is lost; each time is counted in
//! `vcollect_queryperf_faults_total{fault="http_503"}` (or `connection_refused`).
//!
//! Each refusal also takes one call away from what this node asks at once, down to one, for
//! the rest of the cycle ([`Gate`]): the proxy said that vCenter serves fewer calls than
//! were sent, so sending as many again would only be turned away again (and a call that
//! waits for its retry would lose the race to the next new call). The next cycle starts at
//! the node's full share again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};

use crate::vsphere::{Client, EntityMetrics, Error, PerfQuerySpec, QueryStats};

/// Retries of one call turned away as busy, before its error counts.
pub const MAX_RETRIES: u32 = 6;
/// The first backoff; it doubles with each retry, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(4);

/// The wait before retry `attempt` (0-based): 250 ms doubling up to 4 s, scaled by
/// `jitter` in [0.5, 1] so that calls (and nodes) turned away together do not come back
/// together. All retries of one call wait at most about 12 s.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let base = FIRST_BACKOFF
        .saturating_mul(1u32 << attempt.min(16))
        .min(MAX_BACKOFF);
    base.mul_f64(jitter.clamp(0.5, 1.0))
}

/// A factor in [0.5, 1] that differs between calls (std's per-instance random hash keys:
/// no random-number crate needed for a jitter).
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    0.5 + (h.finish() % 1000) as f64 / 2000.0
}

/// The calls this node sends at once in one cycle: its share at first, one less for each
/// call turned away as busy, never below one.
pub struct Gate {
    sem: Semaphore,
    permits: AtomicUsize,
}

impl Gate {
    pub fn new(concurrency: usize) -> Gate {
        let n = concurrency.max(1);
        Gate {
            sem: Semaphore::new(n),
            permits: AtomicUsize::new(n),
        }
    }

    /// The calls it lets through at once now.
    pub fn permits(&self) -> usize {
        self.permits.load(Ordering::Relaxed)
    }

    /// Removes one permit (the caller's) unless it is the last.
    fn shrink(&self) -> bool {
        self.permits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n > 1).then(|| n - 1)
            })
            .is_ok()
    }
}

/// `client.query_perf` through `gate`, sent again after a backoff while vCenter turns it
/// away as busy (at most [`MAX_RETRIES`] times). A busy answer comes before any entity of
/// the call was sent on `tx`, so sending it again duplicates nothing.
pub async fn query_perf(
    client: &Client,
    specs: &[PerfQuerySpec],
    tx: &mpsc::Sender<EntityMetrics>,
    gate: &Gate,
) -> Result<QueryStats, Error> {
    let metrics = crate::telemetry::metrics();
    let mut attempt = 0;
    loop {
        let Ok(permit) = gate.sem.acquire().await else {
            // The semaphore is never closed; ask without it rather than fail.
            return client.query_perf(specs, tx).await;
        };
        let r = client.query_perf(specs, tx).await;
        let e = match r {
            Err(e) if e.is_busy() && attempt < MAX_RETRIES => e,
            r => return r,
        };
        if gate.shrink() {
            permit.forget();
        } else {
            drop(permit);
        }
        let wait = backoff(attempt, jitter());
        metrics.query_fault(client.name(), &e.fault_kind());
        tracing::debug!(vcenter = client.name(), attempt, wait_ms = wait.as_millis() as u64,
            concurrency = gate.permits(), error = %e, "vCenter busy: QueryPerf sent again after a backoff");
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_cap_and_jitter_only_shortens_it() {
        let ms = |a, j| backoff(a, j).as_millis();
        assert_eq!(
            (0..7).map(|a| ms(a, 1.0)).collect::<Vec<_>>(),
            [250, 500, 1000, 2000, 4000, 4000, 4000]
        );
        assert_eq!(ms(1, 0.5), 250);
        assert_eq!(ms(1, 0.1), 250, "jitter below 0.5 is clamped");
        assert_eq!(ms(40, 1.0), 4000);
        let total: Duration = (0..MAX_RETRIES).map(|a| backoff(a, 1.0)).sum();
        assert!(total <= Duration::from_secs(16), "{total:?}");
        for _ in 0..100 {
            let j = jitter();
            assert!((0.5..=1.0).contains(&j), "{j}");
        }
    }

    #[test]
    fn the_gate_shrinks_to_one_and_no_further() {
        let g = Gate::new(3);
        assert_eq!(g.permits(), 3);
        assert!(g.shrink());
        assert!(g.shrink());
        assert!(!g.shrink());
        assert_eq!(g.permits(), 1);
        assert_eq!(Gate::new(0).permits(), 1);
    }
}
