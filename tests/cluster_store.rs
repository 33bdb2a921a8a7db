//! openraft's storage conformance suite against the sled store, each case in a fresh tempdir,
//! plus restart tests (state survives close/reopen).

use openraft::storage::{RaftLogReader, RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::{Entry, EntryPayload, StorageError};
use tempfile::TempDir;
use vcollect::cluster::state::Command;
use vcollect::cluster::{self, LogId, LogStore, StateMachineStore, TypeConfig};

struct SledBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for SledBuilder {
    async fn build(
        &self,
    ) -> Result<(TempDir, LogStore, StateMachineStore), StorageError<TypeConfig>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, sm) = cluster::open(dir.path()).expect("open store");
        Ok((dir, log, sm))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_storage_suite() -> Result<(), StorageError<TypeConfig>> {
    Suite::test_all(SledBuilder).await
}

fn log_id(term: u64, index: u64) -> LogId {
    use openraft::vote::RaftLeaderIdExt;
    type Lid = <TypeConfig as openraft::RaftTypeConfig>::LeaderId;
    LogId::new(Lid::new_committed(term, 1), index)
}

fn normal(term: u64, index: u64, cmd: Command) -> cluster::Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(cmd),
    }
}

async fn apply(sm: &mut StateMachineStore, entries: Vec<cluster::Entry>) {
    let items = entries.into_iter().map(|e| Ok((e, None)));
    sm.apply(futures::stream::iter(items)).await.expect("apply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_log_and_vote_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let register = |name: &str| Command::RegisterNode {
        name: name.into(),
        addr: format!("{name}:7400"),
        incarnation: 1,
    };
    let incarnation;
    {
        let (mut log, mut sm) = cluster::open(dir.path()).unwrap();
        incarnation = log.incarnation().unwrap();
        assert_eq!(log.bootstrap_members().unwrap(), None);
        let first = vec![vcollect::cluster::state::NewNode {
            id: 7,
            name: "me".into(),
            addr: "me:7400".into(),
            incarnation: 1,
        }];
        log.save_bootstrap(7, &first).unwrap();
        assert_eq!(log.bootstrap_members().unwrap(), Some(first));
        let vote = openraft::Vote::new(3, 1);
        log.save_vote(&vote).await.unwrap();
        let entries = vec![normal(3, 1, register("a")), normal(3, 2, register("b"))];
        log.blocking_append(entries.clone()).await.unwrap();
        let rx = sm.subscribe();
        apply(&mut sm, entries).await;
        assert_eq!(rx.borrow().members.nodes.len(), 2);
        let moves = sm.current().plan_vcenter("vc");
        apply(
            &mut sm,
            vec![normal(
                3,
                3,
                Command::SetOwners {
                    vcenter: "vc".into(),
                    moves,
                },
            )],
        )
        .await;
        assert_eq!(rx.borrow().owned_by(1)["vc"].len(), 512);
        log.close().unwrap();
    }
    let (mut log, mut sm) = cluster::open(dir.path()).unwrap();
    assert_eq!(log.incarnation().unwrap(), incarnation);
    assert_eq!(log.node_id().unwrap(), Some(7));
    let first = log.bootstrap_members().unwrap().unwrap();
    assert_eq!((first.len(), first[0].name.as_str()), (1, "me"));
    assert_eq!(
        log.read_vote().await.unwrap(),
        Some(openraft::Vote::new(3, 1))
    );
    let st = log.get_log_state().await.unwrap();
    assert_eq!(st.last_log_id, Some(log_id(3, 2)));
    let (applied, _) = sm.applied_state().await.unwrap();
    assert_eq!(applied, Some(log_id(3, 3)));
    let state = sm.subscribe().borrow().clone();
    assert_eq!(state.members.next_node_id, 3);
    assert_eq!(state.owned_by(2)["vc"].len(), 512);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_snapshot_replaces_state_wholly() {
    let (_d1, _l1, mut leader) = SledBuilder.build().await.unwrap();
    let (d2, _l2, mut follower) = SledBuilder.build().await.unwrap();
    let reg = Command::RegisterNode {
        name: "a".into(),
        addr: "a:1".into(),
        incarnation: 1,
    };
    apply(&mut leader, vec![normal(1, 1, reg.clone())]).await;
    let moves = leader.current().plan_vcenter("kept");
    apply(
        &mut leader,
        vec![normal(
            1,
            2,
            Command::SetOwners {
                vcenter: "kept".into(),
                moves,
            },
        )],
    )
    .await;

    // The follower has a vCenter the leader dropped: it must not survive the install.
    apply(&mut follower, vec![normal(1, 1, reg)]).await;
    let moves = follower.current().plan_vcenter("gone");
    apply(
        &mut follower,
        vec![normal(
            1,
            2,
            Command::SetOwners {
                vcenter: "gone".into(),
                moves,
            },
        )],
    )
    .await;

    let mut b = leader.get_snapshot_builder().await;
    let snap = openraft::RaftSnapshotBuilder::build_snapshot(&mut b)
        .await
        .unwrap();
    follower
        .install_snapshot(&snap.meta, snap.snapshot)
        .await
        .unwrap();
    assert_eq!(*follower.current(), *leader.current());
    drop(follower);
    drop(_l2);
    let (_l, sm) = cluster::open(d2.path()).unwrap();
    assert!(sm.current().vcenters.contains_key("kept"));
    assert!(!sm.current().vcenters.contains_key("gone"));
    assert_eq!(*sm.current(), *leader.current());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_commands_still_advance_applied() {
    let (_d, _l, mut sm) = SledBuilder.build().await.unwrap();
    let cmd = Command::SetNodeState {
        id: 9,
        state: cluster::NodeState::Down,
        expect: vec![],
    };
    apply(&mut sm, vec![normal(1, 1, cmd)]).await;
    // Rejected commands still advance the applied index.
    assert_eq!(sm.last_applied(), Some(log_id(1, 1)));
}

/// Cost of the durable write path: `cargo test --test cluster_store -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing, not a check"]
async fn timing_append_flush_fsync() {
    use std::time::Instant;
    const N: u64 = 300;
    let (_d, mut log, _sm) = SledBuilder.build().await.unwrap();
    let cmd = Command::RegisterNode {
        name: "x".repeat(200),
        addr: "a:1".into(),
        incarnation: 1,
    };
    let mut lat = Vec::new();
    for i in 1..=N {
        let t = Instant::now();
        log.blocking_append([normal(1, i, cmd.clone())])
            .await
            .unwrap();
        lat.push(t.elapsed());
    }
    let mut vote_lat = Vec::new();
    for i in 1..=N {
        let t = Instant::now();
        log.save_vote(&openraft::Vote::new(i, 1)).await.unwrap();
        vote_lat.push(t.elapsed());
    }
    // Reference: sled insert + flush only (what sled alone calls durable).
    let d = tempfile::tempdir().unwrap();
    let db = sled::Config::new().path(d.path()).open().unwrap();
    let mut raw = Vec::new();
    for i in 0..N {
        let t = Instant::now();
        db.insert(i.to_be_bytes(), vec![7u8; 256]).unwrap();
        db.flush().unwrap();
        raw.push(t.elapsed());
    }
    let mut raw_fsync = Vec::new();
    let f = std::fs::File::open(d.path().join("db")).unwrap();
    for i in N..2 * N {
        let t = Instant::now();
        db.insert(i.to_be_bytes(), vec![7u8; 256]).unwrap();
        db.flush().unwrap();
        f.sync_all().unwrap();
        raw_fsync.push(t.elapsed());
    }
    for (name, mut v) in [
        ("append(1 entry)+flush+fsync", lat),
        ("save_vote+flush+fsync", vote_lat),
        ("sled insert+flush", raw),
        ("sled insert+flush+fsync", raw_fsync),
    ] {
        v.sort();
        let mean = v.iter().sum::<std::time::Duration>() / v.len() as u32;
        println!(
            "{name:32} mean {:>7.3} ms  p50 {:>7.3} ms  p99 {:>7.3} ms",
            mean.as_secs_f64() * 1e3,
            v[v.len() / 2].as_secs_f64() * 1e3,
            v[v.len() * 99 / 100].as_secs_f64() * 1e3
        );
    }
}
