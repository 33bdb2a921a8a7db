//! A cluster of real `vcollect agent` processes on loopback: identical configurations except
//! `[node]`, real sled data directories, the simulator and a real InfluxDB. Nodes can be
//! started, killed with SIGKILL, restarted with their data directory, and cut off from their
//! peers (iptables, see [`Partition`]); `vcollect status --json` is read through the binary.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::config::{self, Vc};
use super::{free_port, vcollect_bin};

pub const TOKEN: &str = "cluster-process-test-token";

/// One node's files and, while it runs, its process.
pub struct NodeProc {
    pub name: String,
    pub port: u16,
    /// The process's group id: unique per node, so iptables can tell its sockets apart.
    pub gid: u32,
    pub config: PathBuf,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    child: Option<tokio::process::Child>,
}

impl NodeProc {
    pub fn addr(&self) -> String {
        super::addr(self.port)
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<NodeProc>,
    pub token_file: PathBuf,
}

/// What `cluster` needs to know to write the configurations.
pub struct Options<'a> {
    /// Node slots (all in `peers`, started or not).
    pub slots: usize,
    pub bootstrap_expect: usize,
    pub failure_timeout: &'a str,
    /// The `[collect]` table.
    pub collect: &'a str,
}

impl Cluster {
    /// The cluster most tests want: three slots that bootstrap together, a 2-s failure
    /// timeout, `collect` as the `[collect]` table; starts nothing.
    pub fn three(vc: &Vc, influx_url: &str, collect: &str) -> Cluster {
        let opts = Options {
            slots: 3,
            bootstrap_expect: 3,
            failure_timeout: "2s",
            collect,
        };
        Cluster::new(vc, influx_url, opts)
    }

    /// Writes `slots` configurations that differ only in `[node]` (every slot's address is in
    /// `peers`); starts nothing. Slot addresses sort in slot order, so the bootstrap set (the
    /// first `bootstrap_expect` peers sorted) is slots `0..bootstrap_expect`.
    pub fn new(vc: &Vc, influx_url: &str, opts: Options) -> Cluster {
        let dir = tempfile::tempdir().expect("cluster temp dir");
        let token_file = dir.path().join("cluster.token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).expect("writing the token");
        let mut ports: Vec<u16> = (0..opts.slots).map(|_| free_port()).collect();
        // The same string order as the nodes' bootstrap set ("HOST:PORT" sorted).
        ports.sort_by_key(|p| p.to_string());
        let peers: Vec<String> = ports
            .iter()
            .map(|&p| format!("\"{}\"", super::addr(p)))
            .collect();
        let rest = format!(
            "{collect}\n\n[cluster]\npeers = [{peers}]\nbootstrap_expect = {expect}\n\
             token_file = \"{token}\"\nfailure_timeout = \"{ft}\"\n",
            collect = opts.collect,
            peers = peers.join(", "),
            expect = opts.bootstrap_expect,
            token = token_file.display(),
            ft = opts.failure_timeout,
        );
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(i, &port)| {
                let name = format!("n{}", i + 1);
                let data_dir = dir.path().join(&name);
                let node = format!(
                    "[node]\nname = \"{name}\"\nlisten = \"{host}:{port}\"\ndata_dir = \"{}\"\n",
                    data_dir.display(),
                    host = super::host()
                );
                let config = config::write_file(
                    dir.path(),
                    &format!("{name}.toml"),
                    &node,
                    std::slice::from_ref(vc),
                    influx_url,
                    &rest,
                );
                NodeProc {
                    log: dir.path().join(format!("{name}.log")),
                    gid: 47_000 + port as u32,
                    name,
                    port,
                    config,
                    data_dir,
                    child: None,
                }
            })
            .collect();
        Cluster {
            dir,
            nodes,
            token_file,
        }
    }

    /// Starts node `i` (again, with whatever its data directory holds). Its stderr is
    /// appended to its log.
    pub fn start(&mut self, i: usize) {
        self.start_with_env(i, &[]);
    }

    /// [`Cluster::start`] with extra environment variables (the test-only crash hook).
    pub fn start_with_env(&mut self, i: usize, env: &[(&str, &str)]) {
        let n = &mut self.nodes[i];
        assert!(n.child.is_none(), "{} already runs", n.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&n.log)
            .expect("node log");
        let child = tokio::process::Command::new(vcollect_bin())
            .args(["agent", "--config"])
            .arg(&n.config)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .gid(n.gid)
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("starting vcollect agent");
        n.child = Some(child);
    }

    pub fn start_all(&mut self, count: usize) {
        for i in 0..count {
            self.start(i);
        }
    }

    /// SIGKILL: no graceful anything; the data directory stays.
    pub async fn kill(&mut self, i: usize) {
        let mut child = self.nodes[i].child.take().expect("node runs");
        child.start_kill().expect("SIGKILL");
        let _ = child.wait().await;
    }

    /// Deletes node `i`'s data directory (it must not run): a pristine node.
    pub fn wipe(&self, i: usize) {
        assert!(!self.nodes[i].running());
        let _ = std::fs::remove_dir_all(&self.nodes[i].data_dir);
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }

    /// Every node's log, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let log = self.log(i);
            // The tail is what matters; a full log of a 2-minute run is long.
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            out.push_str(&format!("==== {} ({}) ====\n", n.name, n.addr()));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    /// `vcollect status --addr A --token-file F --json` through the binary.
    pub async fn status_raw(addr: &str, token_file: &Path, timeout: Duration) -> Output {
        tokio::process::Command::new(vcollect_bin())
            .args(["status", "--json", "--addr", addr, "--token-file"])
            .arg(token_file)
            .arg("--timeout")
            .arg(format!("{}ms", timeout.as_millis()))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .await
            .expect("running vcollect status")
    }

    /// Node `i`'s status, or `None` when it does not answer.
    pub async fn status(&self, i: usize) -> Option<Status> {
        let out = Self::status_raw(
            &self.nodes[i].addr(),
            &self.token_file,
            Duration::from_millis(1500),
        )
        .await;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok().map(Status)
    }

    /// The status of every running node (`None` for those that do not answer).
    pub async fn statuses(&self) -> Vec<Option<Status>> {
        let running: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].running())
            .collect();
        let all = futures::future::join_all(running.iter().map(|&i| self.status(i))).await;
        let mut out = vec![None; self.nodes.len()];
        for (i, s) in running.into_iter().zip(all) {
            out[i] = s;
        }
        out
    }

    /// Polls until every node in `which` answers and `f` holds for every answer; returns the
    /// answers and the time it took. Panics with the logs after `timeout`.
    pub async fn wait_status(
        &self,
        what: &str,
        which: &[usize],
        timeout: Duration,
        f: impl Fn(&Status) -> bool,
    ) -> (Vec<Status>, Duration) {
        self.wait_statuses(what, which, timeout, |all| all.iter().all(&f))
            .await
    }

    /// Polls every node of `which` until `f` holds for their statuses together (every node
    /// answered), e.g. [`one_leader`].
    pub async fn wait_statuses(
        &self,
        what: &str,
        which: &[usize],
        timeout: Duration,
        all_hold: impl Fn(&[Status]) -> bool,
    ) -> (Vec<Status>, Duration) {
        let start = Instant::now();
        loop {
            let all = futures::future::join_all(which.iter().map(|&i| self.status(i))).await;
            if all.iter().all(Option::is_some) {
                let got: Vec<Status> = all.iter().flatten().cloned().collect();
                if all_hold(&got) {
                    return (got, start.elapsed());
                }
            }
            if start.elapsed() > timeout {
                let last: Vec<String> = all
                    .iter()
                    .map(|s| s.as_ref().map(|s| s.0.to_string()).unwrap_or("-".into()))
                    .collect();
                panic!(
                    "timed out after {timeout:?} waiting for {what}; last statuses:\n{}\n{}",
                    last.join("\n"),
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Cuts node `i` off from its peers (see [`Partition`]); heals on drop.
    pub fn partition(&self, i: usize) -> Partition {
        let n = &self.nodes[i];
        let others: Vec<String> = self
            .nodes
            .iter()
            .filter(|o| o.port != n.port)
            .map(|o| o.port.to_string())
            .collect();
        Partition::new(n.port, n.gid, &others)
    }
}

/// Every status names the same leader. The statuses are read one per node, so an election
/// between two reads (a loaded machine delays heartbeats) can make them disagree for a
/// moment: wait for agreement with [`Cluster::wait_statuses`] rather than assert it once.
pub fn one_leader(all: &[Status]) -> bool {
    all.iter().all(|s| s.leader() == all[0].leader())
}

/// One node's `vcollect status --json`.
#[derive(Clone, Debug)]
pub struct Status(pub Value);

impl Status {
    pub fn node_id(&self) -> u64 {
        self.0["node_id"].as_u64().unwrap_or(0)
    }
    pub fn leader(&self) -> Option<u64> {
        self.0["leader_id"].as_u64()
    }
    pub fn term(&self) -> u64 {
        self.0["term"].as_u64().unwrap_or(0)
    }
    pub fn last_log_index(&self) -> u64 {
        self.0["last_log_index"].as_u64().unwrap_or(0)
    }
    pub fn collecting(&self) -> bool {
        self.0["collecting"].as_bool().unwrap_or(false)
    }
    pub fn voters(&self) -> Vec<u64> {
        ids(&self.0["voters"])
    }
    pub fn learners(&self) -> Vec<u64> {
        ids(&self.0["learners"])
    }
    pub fn joint(&self) -> bool {
        self.0["joint"].as_bool().unwrap_or(false)
    }
    /// (id, name, state, role, buckets) of every member.
    pub fn members(&self) -> Vec<Member> {
        self.0["members"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| Member {
                id: m["id"].as_u64().unwrap_or(0),
                name: m["name"].as_str().unwrap_or_default().into(),
                state: m["state"].as_str().unwrap_or_default().into(),
                role: m["role"].as_str().unwrap_or_default().into(),
                voter: m["voter"].as_bool().unwrap_or(false),
                buckets: m["buckets"].as_u64().unwrap_or(0),
            })
            .collect()
    }
    pub fn member(&self, name: &str) -> Option<Member> {
        self.members().into_iter().find(|m| m.name == name)
    }
    /// Bucket counts of the members that own any, sorted.
    pub fn spread(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .members()
            .iter()
            .map(|m| m.buckets)
            .filter(|&b| b > 0)
            .collect();
        v.sort();
        v
    }
    pub fn unassigned(&self) -> u64 {
        self.0["unassigned"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e[1].as_u64().unwrap_or(0))
            .sum()
    }
}

fn ids(v: &Value) -> Vec<u64> {
    let mut out: Vec<u64> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_u64())
        .collect();
    out.sort();
    out
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub name: String,
    pub state: String,
    /// leader, follower or learner.
    pub role: String,
    pub voter: bool,
    pub buckets: u64,
}

/// A node cut off from its peers on loopback, both directions, while vCenter and InfluxDB stay
/// reachable: iptables rules in OUTPUT (every loopback packet passes it) that drop
/// * every TCP packet to or from the node's gRPC port (peers' Raft and cluster calls to it, and
///   its answers on connections already open), and
/// * every TCP packet that the node's own sockets (its process group id, unique per node) send
///   to a peer's gRPC port (its calls to them).
///
/// Only the test's own ports and group id are matched, so nothing else on the machine is
/// touched; the rules are removed on drop, also when the test panics.
///
/// (Network namespaces work here too, but a node in its own namespace cannot reach the peers,
/// the simulator and InfluxDB on the host's 127.0.0.1 that the shared configuration names; it
/// would take veth links with addresses for every part, and still a filter to cut only Raft.)
pub struct Partition {
    rules: Vec<Vec<String>>,
}

impl Partition {
    fn new(port: u16, gid: u32, peer_ports: &[String]) -> Partition {
        let tag = format!("vcollect-test-{}-{port}", std::process::id());
        let base = |extra: &[&str]| -> Vec<String> {
            let mut r: Vec<String> = ["OUTPUT", "-o", "lo", "-p", "tcp"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            r.extend(extra.iter().map(|s| s.to_string()));
            r.extend(
                ["-m", "comment", "--comment", &tag, "-j", "DROP"]
                    .iter()
                    .map(|s| s.to_string()),
            );
            r
        };
        let port = port.to_string();
        let gid = gid.to_string();
        let dports = peer_ports.join(",");
        let rules = vec![
            base(&["--dport", &port]),
            base(&["--sport", &port]),
            base(&[
                "-m",
                "owner",
                "--gid-owner",
                &gid,
                "-m",
                "multiport",
                "--dports",
                &dports,
            ]),
        ];
        let mut p = Partition { rules: Vec::new() };
        for r in rules {
            iptables("-I", &r);
            p.rules.push(r);
        }
        p
    }
}

fn iptables(op: &str, rule: &[String]) {
    let out = std::process::Command::new("iptables")
        .arg("-w")
        .arg(op)
        .args(rule)
        .output()
        .expect("running iptables (root and the owner/multiport matches are needed)");
    assert!(
        out.status.success(),
        "iptables {op} {rule:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Drop for Partition {
    fn drop(&mut self) {
        for r in self.rules.drain(..) {
            // Not a panic in drop (it would abort during an unwinding test), but never silent:
            // a rule left behind would cut the next test's traffic.
            match std::process::Command::new("iptables")
                .arg("-w")
                .arg("-D")
                .args(&r)
                .output()
            {
                Ok(out) if out.status.success() => {}
                Ok(out) => eprintln!(
                    "iptables -D {r:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ),
                Err(e) => eprintln!("running iptables -D {r:?}: {e}"),
            }
        }
    }
}
