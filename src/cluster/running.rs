//! The core of a running node ([`Core`]): its id, its Raft handle, its liveness, and the one
//! write path every writer uses (local on the leader, else forwarded; retried the same way
//! everywhere).
//!
//! A `Core` exists only once discovery has returned the node id and Raft runs, so the
//! controller, the admin operations and the bootstrap proposal take one and never ask
//! whether Raft exists. The edges that serve before then (the gRPC server, the collector's
//! assignment, the self-metrics) look it up in a [`CoreSlot`] and answer "not ready" while it
//! is empty. Its own module so that those parts depend on it and not on one another: it
//! imports none of them.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{watch, Notify};

use super::convert::WireError;
use super::error::Error;
use super::local::Local;
use super::rpc::{self, pb};
use super::state::{Command, Response};
use super::{NodeId, Raft};

/// How long a forwarded or local write may take before the caller retries.
const WRITE_ATTEMPT: Duration = Duration::from_secs(2);

/// Where the edges find the core: empty until the node has its id and runs Raft. The one
/// place that looks it up ([`CoreSlot::current`]) or waits for it ([`CoreSlot::wait`]).
#[derive(Clone)]
pub(crate) struct CoreSlot(watch::Receiver<Option<Arc<Core>>>);

impl CoreSlot {
    /// An empty slot, and the sender that fills it once (when Raft runs).
    pub fn new() -> (watch::Sender<Option<Arc<Core>>>, CoreSlot) {
        let (tx, rx) = watch::channel(None);
        (tx, CoreSlot(rx))
    }

    /// The core, if the node has one yet.
    pub fn current(&self) -> Option<Arc<Core>> {
        self.0.borrow().clone()
    }

    /// The core, once the node has one (within `timeout`).
    pub async fn wait(&self, timeout: Duration) -> Result<Arc<Core>, Error> {
        let mut rx = self.0.clone();
        let waited = tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(core)) => core.clone().ok_or(Error::NotReady),
            Ok(Err(_)) => Err(Error::Shutdown),
            Err(_) => Err(Error::NotReady),
        }
    }
}

/// A node that has its id and runs Raft (see the module doc).
pub(crate) struct Core {
    pub local: Arc<Local>,
    pub id: NodeId,
    pub raft: Raft,
    /// When this node last accepted an AppendEntries (or snapshot) from a leader.
    last_contact: Mutex<Option<Instant>>,
    /// The leader's commit index in the first AppendEntries this process accepted: until its
    /// replica has applied that far, what it says of ownership may be from before the process
    /// stopped (see `assignment::in_contact`).
    first_commit: Mutex<Option<u64>>,
    /// The oldest leader commit index its replica had not applied when it heard it, and when
    /// it heard it (`None`: caught up with all it heard). See [`behind`].
    behind: Mutex<Option<(u64, Instant)>>,
    /// Wakes the controller early (a join, an admin change).
    pub kick: Notify,
}

/// This node's contact with its leader after a request that arrived at `now` from a leader
/// that last heard this node `ago` before (`None`: it did not say, as release 0.1 does not):
/// the later of `last` and `now - ago`. Never back: a late request's older answer does not
/// undo a newer one. An age older than the clock's origin counts as no contact.
fn contact(last: Option<Instant>, now: Instant, ago: Option<Duration>) -> Option<Instant> {
    let Some(at) = now.checked_sub(ago.unwrap_or_default()) else {
        return last;
    };
    Some(last.map_or(at, |l| l.max(at)))
}

/// What this node's replica is behind after an AppendEntries that arrived at `now` with the
/// leader's commit index `commit`, when it had applied `applied`: the commit index it still
/// has to apply and since when it knows of it. `prev` is kept while it is not applied (the
/// oldest counts); once applied, the new commit index starts its own wait.
///
/// A follower whose heartbeats get through but whose log entries do not (a slow link: each
/// AppendEntries that carries entries times out, and openraft backs off) hears its leader but
/// does not learn that its buckets moved: its replica says it still owns them (see
/// `assignment::in_contact`).
fn behind(
    prev: Option<(u64, Instant)>,
    commit: u64,
    applied: u64,
    now: Instant,
) -> Option<(u64, Instant)> {
    match prev {
        Some((c, at)) if applied < c => Some((c, at)),
        _ if applied < commit => Some((commit, now)),
        _ => None,
    }
}

impl Core {
    pub fn new(local: Arc<Local>, id: NodeId, raft: Raft) -> Core {
        Core {
            local,
            id,
            raft,
            last_contact: Mutex::new(None),
            first_commit: Mutex::new(None),
            behind: Mutex::new(None),
            kick: Notify::new(),
        }
    }

    /// A copy of this node's Raft metrics.
    pub fn metrics(&self) -> openraft::RaftMetrics<super::TypeConfig> {
        super::metrics(&self.raft)
    }

    pub fn touch_contact(&self) {
        self.touch_contact_ago(None);
    }

    /// A leader reached us and last heard us `ago` (`None`: it did not say; now).
    pub fn touch_contact_ago(&self, ago: Option<Duration>) {
        let mut last = self.last_contact.lock().unwrap_or_else(|p| p.into_inner());
        *last = contact(*last, Instant::now(), ago);
    }

    /// Notes the leader's commit index of an accepted AppendEntries (the first for
    /// [`Core::first_leader_commit`]; each for [`Core::behind_for`]).
    pub fn note_leader_commit(&self, index: Option<u64>) {
        let commit = index.unwrap_or(0);
        {
            let mut first = self.first_commit.lock().unwrap_or_else(|p| p.into_inner());
            if first.is_none() {
                *first = Some(commit);
            }
        }
        let applied = self.applied();
        let mut b = self.behind.lock().unwrap_or_else(|p| p.into_inner());
        *b = behind(*b, commit, applied, Instant::now());
    }

    /// The index this node's replica has applied (0: nothing).
    fn applied(&self) -> u64 {
        use openraft::async_runtime::WatchReceiver;
        self.raft
            .metrics()
            .borrow_watched()
            .last_applied
            .as_ref()
            .map_or(0, |l| l.index)
    }

    /// How long this node's replica has been behind a commit index its leader told it
    /// (`None`: it has applied all it was told).
    pub fn behind_for(&self, applied: u64) -> Option<Duration> {
        let b = *self.behind.lock().unwrap_or_else(|p| p.into_inner());
        b.filter(|(c, _)| applied < *c).map(|(_, at)| at.elapsed())
    }

    /// The leader's commit index this process first heard (`None`: no leader reached it yet).
    pub fn first_leader_commit(&self) -> Option<u64> {
        *self.first_commit.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn since_contact(&self) -> Option<Duration> {
        self.last_contact
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|t| t.elapsed())
    }

    /// The leader's id and address as this node knows them.
    pub fn leader(&self) -> Option<(NodeId, String)> {
        let m = self.metrics();
        let id = m.current_leader?;
        let addr = m
            .membership_config
            .membership()
            .get_node(&id)
            .map(|n| n.addr.clone())
            .or_else(|| {
                self.local
                    .state
                    .borrow()
                    .members
                    .nodes
                    .get(&id)
                    .map(|n| n.addr.clone())
            })?;
        Some((id, addr))
    }

    /// One attempt at a write: locally if this node leads, else forwarded to the leader.
    pub async fn try_write(&self, cmd: &Command, hops: u32) -> Result<Response, Error> {
        let (leader, addr) = self.leader().ok_or(Error::NoLeader)?;
        if leader == self.id {
            let write = self.raft.client_write(cmd.clone());
            return match tokio::time::timeout(WRITE_ATTEMPT, write).await {
                Err(_) => Err(Error::Timeout {
                    addr: self.local.advertise.clone(),
                    timeout: WRITE_ATTEMPT,
                }),
                Ok(Ok(r)) => Ok(r.data),
                Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => {
                    Err(Error::NoLeader)
                }
                Ok(Err(RaftError::APIError(e))) => Err(e.into()),
                Ok(Err(RaftError::Fatal(_))) => Err(Error::Shutdown),
            };
        }
        if hops >= 2 {
            return Err(Error::NoLeader);
        }
        let mut client = self.local.peers.cluster(&addr)?;
        // The Raft log entry payload: serde_json, as openraft stores it (see the proto).
        let command = serde_json::to_vec(cmd).map_err(|source| WireError::Json {
            field: "WriteRequest.command",
            source,
        })?;
        let req = pb::WriteRequest {
            command,
            hops: hops + 1,
        };
        let reply = rpc::call(&addr, WRITE_ATTEMPT, req, |r| async move {
            client.write(r).await
        })
        .await?;
        serde_json::from_slice(&reply.response).map_err(|source| {
            WireError::Json {
                field: "WriteReply.response",
                source,
            }
            .into()
        })
    }

    /// Writes `cmd` through the leader, retrying while there is no leader or it is
    /// unreachable, for up to `timeout`. Every command of the state machine is idempotent, so
    /// a retry of a write whose answer was lost is harmless.
    pub async fn write(&self, cmd: Command, timeout: Duration) -> Result<Response, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.local.cancel.is_cancelled() {
                return Err(Error::Shutdown);
            }
            let err = match self.try_write(&cmd, 0).await {
                Ok(r) => return Ok(r),
                Err(e) if retryable(&e) => e,
                Err(e) => return Err(e),
            };
            if Instant::now() >= deadline {
                return Err(err);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Errors after which a write may succeed if tried again (leader election, a restart).
fn retryable(e: &Error) -> bool {
    match e {
        Error::NoLeader | Error::NotReady | Error::Timeout { .. } => true,
        Error::Rpc { status, .. } => matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behind_counts_from_the_oldest_commit_not_applied() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // Caught up: nothing to wait for.
        assert_eq!(behind(None, 14, 14, t0), None);
        // Told of commit 16 with 14 applied: behind since now.
        assert_eq!(behind(None, 16, 14, t0), Some((16, t0)));
        // Later heartbeats do not restart the wait while 16 is not applied.
        assert_eq!(behind(Some((16, t0)), 18, 14, t0 + ms(900)), Some((16, t0)));
        assert_eq!(behind(Some((16, t0)), 15, 15, t0 + ms(900)), Some((16, t0)));
        // Once 16 is applied, the next commit it lacks waits from when it is told.
        assert_eq!(
            behind(Some((16, t0)), 18, 16, t0 + ms(900)),
            Some((18, t0 + ms(900)))
        );
        assert_eq!(behind(Some((16, t0)), 18, 18, t0 + ms(900)), None);
    }

    #[test]
    fn contact_counts_from_when_the_leader_last_heard_us() {
        let now = Instant::now() + Duration::from_secs(100);
        let secs = Duration::from_secs;
        // A leader of release 0.1 says nothing: contact is now.
        assert_eq!(contact(None, now, None), Some(now));
        // A leader that has not heard us for 5 s: contact was 5 s ago, however fresh its
        // request (a slow or one-way link).
        assert_eq!(contact(None, now, Some(secs(5))), Some(now - secs(5)));
        // A later request's older acknowledgement does not move contact back.
        assert_eq!(
            contact(Some(now - secs(1)), now, Some(secs(5))),
            Some(now - secs(1))
        );
        assert_eq!(
            contact(Some(now - secs(9)), now, Some(secs(5))),
            Some(now - secs(5))
        );
    }
}
