//! The control plane's figures in the self-metrics: once a second, this node's Raft
//! metrics (openraft's `raft.metrics()` watch, read through [`super::metrics`] only here)
//! and its member state and buckets from the replicated state.

use std::sync::Arc;
use std::time::Duration;

use openraft::Instant as _;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::state::ClusterState;
use crate::telemetry::RaftFigures;

const EVERY: Duration = Duration::from_secs(1);

/// Samples until `cancel` (the node's shutdown). `raft` gives the node's Raft handle once it
/// exists; `state` is the local replica. Taking these, not the node, keeps this module a leaf.
pub(crate) async fn run(
    cancel: CancellationToken,
    raft: impl Fn() -> Option<super::Raft>,
    state: watch::Receiver<Arc<ClusterState>>,
) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(raft) = raft() else { continue };
        let state = state.borrow().clone();
        crate::telemetry::metrics().raft(&figures(&raft, &state));
    }
}

fn figures(raft: &super::Raft, state: &ClusterState) -> RaftFigures {
    let m = super::metrics(raft);
    let me = m.id;
    let name = |id: u64| {
        state
            .members
            .nodes
            .get(&id)
            .map_or_else(|| id.to_string(), |n| n.name.clone())
    };
    let peer_contact = m
        .heartbeat
        .iter()
        .flatten()
        .filter(|(id, _)| **id != me)
        .filter_map(|(id, t)| t.as_ref().map(|t| (name(*id), t.elapsed().as_secs_f64())))
        .collect();
    let buckets = state
        .vcenters
        .iter()
        .map(|(vc, shards)| (vc.clone(), shards.owned_by(me).len() as u64))
        .collect();
    RaftFigures {
        term: m.current_term,
        leader_id: m.current_leader.unwrap_or(0),
        last_log_index: m.last_log_index.unwrap_or(0),
        commit_index: m.local_committed.map_or(0, |l| l.index),
        applied_index: m.last_applied.map_or(0, |l| l.index),
        server_state: super::convert::name(Some(m.state)),
        node_state: state.members.nodes.get(&me).map(|n| n.state.to_string()),
        buckets,
        peer_contact,
    }
}
