//! One simulated host: a vcollect node (Raft, controller, assignment, gRPC) started from a
//! configuration as an admin writes it, on the simulated network, and its collector.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::cluster::{Client, ClientOptions, ClusterAssignment, Node};
use crate::collect::assignment::Assignment;
use crate::config::Config;
use crate::secret::Secret;

use super::collector;
use super::net;
use super::schedule::{NODES, SPARE};
use super::world::{lock, AdminTask, Shared, View};

/// The port every node listens on.
pub const PORT: u16 = 7000;
/// `cluster.failure_timeout` of the simulated nodes.
pub const FAILURE_TIMEOUT: Duration = Duration::from_secs(3);

/// How long the admin's `vcollect leave` waits for the drain (`--wait-timeout`).
const LEAVE_WAIT: Duration = Duration::from_secs(90);

/// The cluster token of every node and the admin.
const TOKEN: &str = "simulated-cluster-token";

/// The host name of node `i` (0-based).
pub fn name(i: usize) -> String {
    format!("n{}", i + 1)
}

/// Node `i`'s data directory under `dir` (what its configuration names, and what the
/// simulation's disk faults and re-imaging act on).
pub fn data_dir(dir: &Path, i: usize) -> PathBuf {
    dir.join(name(i))
}

/// The admin address of node `i` (what `vcollect --node` names).
fn addr(i: usize) -> String {
    format!("{}:{PORT}", name(i))
}

/// The configuration of node `i`, its data under `dir`. The bootstrap set's nodes list each
/// other; the spare lists them and itself (the first `bootstrap_expect` of the sorted list
/// are the set, so it is outside it and joins).
fn config(i: usize, dir: &Path) -> Result<Config, String> {
    let listed = if i == SPARE { SPARE + 1 } else { NODES };
    let peers: Vec<String> = (0..listed).map(|p| format!("\"{}\"", addr(p))).collect();
    let text = format!(
        r#"
[node]
name = "{name}"
listen = "0.0.0.0:{PORT}"
advertise = "{name}:{PORT}"
data_dir = "{data}"

[cluster]
peers = [{peers}]
bootstrap_expect = {NODES}
token_file = "{dir}/token"
failure_timeout = "{ft}ms"

[[vcenter]]
name = "vc1"
url = "http://vcenter.invalid/sdk"
username = "u"
password_file = "{dir}/password"
"#,
        name = name(i),
        data = data_dir(dir, i).display(),
        peers = peers.join(", "),
        dir = dir.display(),
        ft = FAILURE_TIMEOUT.as_millis(),
    );
    Config::from_toml(Path::new("simulation.toml"), &text).map_err(|e| e.to_string())
}

/// Writes the files every node's configuration names.
pub fn prepare(dir: &Path) -> std::io::Result<()> {
    std::fs::write(dir.join("token"), format!("{TOKEN}\n"))?;
    std::fs::write(dir.join("password"), "unused\n")
}

/// Runs node `i` until the simulation kills it.
pub async fn run(i: usize, dir: PathBuf, world: Shared) -> Result<(), Box<dyn std::error::Error>> {
    let cfg = config(i, &dir)?;
    let incoming = net::incoming(PORT).await?;
    let addr = std::net::SocketAddr::from(([0, 0, 0, 0], PORT));
    let node = match Node::start_on(&cfg, incoming, addr, Some(net::dial())).await {
        Ok(node) => node,
        // A process whose disk fails as it starts exits with the error (its listener gone);
        // the driver starts it again once the disk works, as its service manager would.
        Err(e) if crate::cluster::runtime::disk_fault(&data_dir(&dir, i)).is_err() => {
            lock(&world).note(format_args!("n{} exits: {e}", i + 1));
            return std::future::pending().await;
        }
        Err(e) => return Err(e.into()),
    };
    // The id comes when discovery ends, which needs a majority: wait as long as it takes.
    let assignment = loop {
        match node.wait_ready(Duration::from_secs(3600)).await {
            Ok(_) => break node.assignment(),
            Err(e) => lock(&world).note(format_args!("n{} not ready: {e}", i + 1)),
        }
    };
    let raft = node.raft().ok_or("a ready node without Raft")?;
    {
        let mut w = lock(&world);
        w.views[i] = Some(View {
            raft,
            incarnation: node.incarnation(),
            state: node.state(),
        });
        w.note(format_args!("n{} ready", i + 1));
    }
    let collector = collector::run(i, world.clone(), assignment.clone());
    tokio::join!(collector, probe(i, world, assignment));
    Ok(())
}

/// Tells the checks, every [`super::CHECK_EVERY`], whether this node collects and which of
/// the inventory's buckets it holds. Asked here, on the node's own runtime, because the
/// answer depends on the node's clock (how long since it heard its leader), which the
/// driver outside the node cannot read.
async fn probe(i: usize, world: Shared, assignment: Arc<ClusterAssignment>) {
    let mut tick = tokio::time::interval(super::CHECK_EVERY);
    loop {
        tick.tick().await;
        let claim = assignment.collecting().then(|| {
            let snap = assignment.snapshot(super::world::VCENTER);
            let w = lock(&world);
            w.buckets
                .iter()
                .copied()
                .filter(|b| snap.owns(*b))
                .collect()
        });
        lock(&world).claims[i] = claim;
    }
}

/// The admin's machine: carries out the admin operations the driver queues, with the real
/// admin client, through the first node that answers (as `vcollect` with several `--node`s).
pub async fn admin(world: Shared) -> Result<(), Box<dyn std::error::Error>> {
    let opts = ClientOptions {
        dial: Some(net::dial()),
        ..ClientOptions::new(Some(Secret::new(TOKEN)), Duration::from_secs(2))
    };
    loop {
        let task = lock(&world).admin.pop_front();
        let op = match task {
            Some(AdminTask::Op(op)) => op,
            Some(AdminTask::Leave { node, stop_after }) => {
                tokio::spawn(leave(node, stop_after, world.clone(), opts.clone()));
                continue;
            }
            None => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let mut outcome = String::new();
        // Only the started nodes: turmoil cannot resolve a host that does not exist yet.
        let started = lock(&world).started();
        for i in started {
            let addr = addr(i);
            match Client::new(&addr, &opts).admin(&op).await {
                Ok(reply) => {
                    outcome = format!("done: {}", reply.message);
                    break;
                }
                Err(e) => outcome = format!("refused: {e}"),
            }
        }
        lock(&world).note(format_args!("admin {op:?} {outcome}"));
    }
}

/// `vcollect leave` against node `i`, with the CLI's own steps ([`Client::leave`]); then,
/// `stop_after` after it returned (done or not), the node's service stopped for good.
async fn leave(i: usize, stop_after: Option<Duration>, world: Shared, opts: ClientOptions) {
    let addr = addr(i);
    let mut steps = Vec::new();
    let left = Client::new(&addr, &opts)
        .leave(LEAVE_WAIT, |s| steps.push(s))
        .await;
    {
        let mut w = lock(&world);
        let steps = steps.join("; ");
        match left {
            Ok(_) => {
                w.left[i] = true;
                w.note(format_args!("admin: n{} left: {steps}", i + 1));
            }
            Err(e) => w.note(format_args!(
                "admin: n{}'s leave failed: {e} (done: {steps})",
                i + 1
            )),
        }
    }
    if let Some(after) = stop_after {
        tokio::time::sleep(after).await;
        lock(&world).stops.push(i);
    }
}
