//! A real single-node openraft instance on the sled store: initialise, write commands, build a
//! snapshot, restart from the same directory. Proves the TypeConfig and the store work under
//! openraft itself, not only under its storage suite. The network is a stub (one node needs
//! none).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, RaftNetworkFactory, RaftNetworkV2, ServerState};
use vcollect::cluster::state::{Command, NewNode, Response};
use vcollect::cluster::{self, Raft, Role, TypeConfig};

struct NoNet;

fn unreachable() -> Unreachable<TypeConfig> {
    Unreachable::new(&std::io::Error::other("no network in this test"))
}

impl RaftNetworkV2<TypeConfig> for NoNet {
    type SnapshotData = Vec<u8>;

    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        Err(RPCError::Unreachable(unreachable()))
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        Err(RPCError::Unreachable(unreachable()))
    }

    async fn full_snapshot(
        &mut self,
        _vote: cluster::Vote,
        _snapshot: openraft::type_config::alias::SnapshotOf<TypeConfig, Vec<u8>>,
        _cancel: impl std::future::Future<Output = ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        Err(StreamingError::Unreachable(unreachable()))
    }
}

struct NoNetFactory;

impl RaftNetworkFactory<TypeConfig> for NoNetFactory {
    type Network = NoNet;
    async fn new_client(&mut self, _target: u64, _node: &BasicNode) -> NoNet {
        NoNet
    }
}

async fn start(
    dir: &std::path::Path,
) -> (
    Raft,
    tokio::sync::watch::Receiver<Arc<cluster::ClusterState>>,
) {
    let (log, sm) = cluster::open(dir).unwrap();
    let rx = sm.subscribe();
    let config = Arc::new(openraft::Config::default().validate().unwrap());
    let raft = Raft::new(1, config, NoNetFactory, log, sm).await.unwrap();
    (raft, rx)
}

async fn wait_leader(raft: &Raft) {
    raft.wait(Some(Duration::from_secs(5)))
        .state(ServerState::Leader, "leader")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_node_writes_snapshots_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (raft, mut rx) = start(dir.path()).await;
        let members = BTreeMap::from([(
            1u64,
            BasicNode {
                addr: "127.0.0.1:7400".into(),
            },
        )]);
        raft.initialize(members).await.unwrap();
        wait_leader(&raft).await;

        let boot = Command::Bootstrap {
            nodes: vec![NewNode {
                id: 1,
                name: "n1".into(),
                addr: "127.0.0.1:7400".into(),
                incarnation: 5,
            }],
        };
        let r = raft.client_write(boot).await.unwrap();
        assert_eq!(r.data, Response::Done);
        let moves = rx.borrow_and_update().plan_vcenter("vc");
        let r = raft
            .client_write(Command::SetOwners {
                vcenter: "vc".into(),
                moves,
            })
            .await
            .unwrap();
        assert_eq!(
            r.data,
            Response::OwnersSet {
                moved: cluster::BUCKETS
            }
        );
        let state = rx.borrow_and_update().clone();
        assert_eq!(state.members.nodes[&1].role, Role::Voter);
        assert_eq!(state.owned_by(1)["vc"].len(), cluster::BUCKETS as usize);

        raft.trigger().snapshot().await.unwrap();
        raft.wait(Some(Duration::from_secs(5)))
            .metrics(|m| m.snapshot.is_some(), "snapshot built")
            .await
            .unwrap();
        raft.shutdown().await.unwrap();
    }
    // Restart from the same directory: same state, leader again, more writes work.
    let (raft, rx) = start(dir.path()).await;
    wait_leader(&raft).await;
    assert_eq!(
        rx.borrow().owned_by(1)["vc"].len(),
        cluster::BUCKETS as usize
    );
    let r = raft
        .client_write(Command::RegisterNode {
            name: "n2".into(),
            addr: "127.0.0.1:7401".into(),
            incarnation: 6,
        })
        .await
        .unwrap();
    assert_eq!(
        r.data,
        Response::Registered {
            id: 2,
            created: true,
            replaced: None
        }
    );
    raft.shutdown().await.unwrap();
}
