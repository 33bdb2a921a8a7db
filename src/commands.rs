//! The admin subcommands (`status`, `members`, `assignments`, `health`, `drain`, `undrain`,
//! `transfer-leader`, `remove`, `leave`): how they find the node to ask, what they ask it, and
//! how they print the answer (tables, one line, or `--json`). The rules that decide (the
//! working-leader and health verdicts, the operations' safety checks) live in the cluster
//! module; this is the binary's edge, where errors become a line and an exit status.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use vcollect::cluster::{self, AdminOp, Client};
use vcollect::collect;
use vcollect::config::Config;
use vcollect::daemon;

/// The admin subcommands: each asks a node over gRPC.
#[derive(Subcommand)]
pub enum AdminCommand {
    /// The cluster as one node sees it: leader, term, and one row per member with its Raft
    /// indexes, lag, last contact, buckets and last collection cycle.
    Status {
        #[command(flatten)]
        admin: AdminArgs,
        /// Show what the asked node knows even when it knows no leader (otherwise an error).
        #[arg(long)]
        stale: bool,
    },
    /// The members: id, name, address, role, voter, state, buckets.
    Members {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Per vCenter, the buckets each node owns and the entities it collected last cycle.
    Assignments {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Exit 0 when a leader is known, its quorum answers and this node collects (or drains
    /// on purpose); else exit 1 with one line saying why.
    Health {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Move a node's buckets to the other active nodes (it stays a member).
    Drain {
        #[command(flatten)]
        admin: AdminArgs,
        /// The node: name or id.
        node: String,
        /// Return when the new owners have collected past the node's last window.
        #[arg(long)]
        wait: bool,
        /// Upper bound of --wait.
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        wait_timeout: std::time::Duration,
    },
    /// Make a drained node active again: it gets buckets again.
    Undrain {
        #[command(flatten)]
        admin: AdminArgs,
        /// The node: name or id.
        node: String,
    },
    /// Hand leadership to NODE, or to the most caught-up voter.
    TransferLeader {
        #[command(flatten)]
        admin: AdminArgs,
        /// The new leader: name or id (default: the best placed voter).
        node: Option<String>,
    },
    /// Remove a dead node from the cluster (refused if it would lose quorum, unless --force).
    Remove {
        #[command(flatten)]
        admin: AdminArgs,
        /// The node: name or id.
        node: String,
        /// Remove it even if it is alive or the remaining voters would not form a quorum.
        #[arg(long)]
        force: bool,
    },
    /// Take the asked node (default: this node) out of the cluster for good: transfer
    /// leadership if it leads, drain it and wait, then remove it.
    Leave {
        #[command(flatten)]
        admin: AdminArgs,
        /// Upper bound of the drain wait.
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        wait_timeout: std::time::Duration,
    },
}

/// How admin subcommands reach a node.
#[derive(clap::Args)]
pub struct AdminArgs {
    /// A node's gRPC address (default: this node's from --config).
    #[arg(long, env = "VCOLLECT_ADDR")]
    addr: Option<String>,
    /// File holding the cluster token (default: the config's cluster token).
    #[arg(long, env = "VCOLLECT_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// How long to wait for the node.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: std::time::Duration,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

/// Runs an admin subcommand.
pub async fn run(config: &Path, command: AdminCommand) -> anyhow::Result<ExitCode> {
    match command {
        AdminCommand::Status { admin, stale } => status(config, &admin, stale).await,
        AdminCommand::Members { admin } => members(config, &admin).await,
        AdminCommand::Assignments { admin } => assignments(config, &admin).await,
        AdminCommand::Health { admin } => health(config, &admin).await,
        AdminCommand::Drain {
            admin,
            node,
            wait,
            wait_timeout,
        } => {
            let (addr, opts) = admin_target(config, &admin)?;
            let wait = wait.then_some(wait_timeout);
            drain(&addr, &opts, admin.json, node, wait).await
        }
        AdminCommand::Undrain { admin, node } => {
            let (addr, opts) = admin_target(config, &admin)?;
            write_op(&addr, &opts, admin.json, AdminOp::Undrain { node }).await
        }
        AdminCommand::TransferLeader { admin, node } => {
            let (addr, opts) = admin_target(config, &admin)?;
            write_op(
                &addr,
                &opts,
                admin.json,
                AdminOp::TransferLeader { to: node },
            )
            .await
        }
        AdminCommand::Remove { admin, node, force } => {
            let (addr, opts) = admin_target(config, &admin)?;
            write_op(&addr, &opts, admin.json, AdminOp::Remove { node, force }).await
        }
        AdminCommand::Leave {
            admin,
            wait_timeout,
        } => {
            let (addr, opts) = admin_target(config, &admin)?;
            leave(&addr, &opts, admin.json, wait_timeout).await
        }
    }
}

/// `status`: the asked node's view, refused (unless `--stale`) without a working leader.
async fn status(config: &Path, admin: &AdminArgs, stale: bool) -> anyhow::Result<ExitCode> {
    if let Some(cfg) = standalone(config, admin) {
        return standalone_status(&cfg, admin.json);
    }
    let (addr, opts) = admin_target(config, admin)?;
    let report = ask_status(&addr, &opts, false).await?;
    if let Some(why) = report.status_refusal().filter(|_| !stale) {
        return fail(admin.json, why);
    }
    if admin.json {
        out!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `members`: the member table, or its JSON.
async fn members(config: &Path, admin: &AdminArgs) -> anyhow::Result<ExitCode> {
    let (addr, opts) = admin_target(config, admin)?;
    let report = ask_status(&addr, &opts, true).await?;
    if admin.json {
        let v = serde_json::json!({
            "leader_id": report.leader_id,
            "leader": report.leader,
            "voters": report.voters,
            "learners": report.learners,
            "joint": report.joint,
            "members": report.members.iter().map(|m| serde_json::json!({
                "id": m.id, "name": m.name, "address": m.address, "role": m.role,
                "voter": m.voter, "state": m.state, "buckets": m.buckets,
                "leader": m.leader,
            })).collect::<Vec<_>>(),
        });
        out!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", report.members_table());
    }
    Ok(ExitCode::SUCCESS)
}

/// `assignments`: per vCenter, the buckets each node owns.
async fn assignments(config: &Path, admin: &AdminArgs) -> anyhow::Result<ExitCode> {
    let (addr, opts) = admin_target(config, admin)?;
    let report = ask_status(&addr, &opts, false).await?;
    if admin.json {
        let v = serde_json::json!({ "vcenters": report.vcenters });
        out!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", report.assignments_table());
    }
    Ok(ExitCode::SUCCESS)
}

/// `health`: one line and exit 0 when healthy, else one line starting `unhealthy` and exit 1.
async fn health(config: &Path, admin: &AdminArgs) -> anyhow::Result<ExitCode> {
    let verdict = match standalone(config, admin) {
        Some(cfg) => collect::last_cycle::standalone_health(&cfg),
        None => {
            let (addr, opts) = admin_target(config, admin)?;
            match cluster::status_ext(&addr, &opts, false).await {
                Ok(r) => r.health(),
                Err(e) => Err(format!("unhealthy: {}", e.explain())),
            }
        }
    };
    let (healthy, line) = match verdict {
        Ok(line) => (true, line),
        Err(why) => (false, daemon::unhealthy(why)),
    };
    if admin.json {
        out!(
            "{}",
            serde_json::json!({"healthy": healthy, "message": line})
        );
    } else {
        out!("{line}");
    }
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `drain`, and with `--wait` (`wait`: its bound) until the new owners collected past the
/// node's last window.
async fn drain(
    addr: &str,
    opts: &cluster::ClientOptions,
    json: bool,
    node: String,
    wait: Option<std::time::Duration>,
) -> anyhow::Result<ExitCode> {
    let op = AdminOp::Drain { node: node.clone() };
    let client = Client::new(addr, opts);
    let reply = match client.admin(&op).await {
        Ok(r) => r,
        Err(e) => return fail(json, e.explain()),
    };
    let mut out = vec![reply.message.clone()];
    let mut waited = None;
    if let Some(wait_timeout) = wait {
        if !json {
            out!("{}", reply.message);
            out.clear();
        }
        let target = reply.node_id.map(|i| i.to_string()).unwrap_or(node);
        match client
            .wait_drained(&target, reply.drained.as_ref(), wait_timeout)
            .await
        {
            Ok(w) => {
                out.push(w.message);
                waited = Some(w.waited.as_millis() as u64);
            }
            Err(e) => return fail(json, e.explain()),
        }
    }
    done(
        json,
        out,
        serde_json::json!({"node_id": reply.node_id, "waited_ms": waited}),
    )
}

async fn ask_status(
    addr: &str,
    opts: &cluster::ClientOptions,
    local: bool,
) -> anyhow::Result<cluster::StatusReport> {
    Client::new(addr, opts)
        .status(local)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.explain()))
}

/// Prints the error (as JSON too with `--json`) and returns exit status 1.
fn fail(json: bool, msg: String) -> anyhow::Result<ExitCode> {
    if json {
        out!("{}", serde_json::json!({"ok": false, "error": msg}));
    }
    eprintln!("vcollect: {msg}");
    Ok(ExitCode::FAILURE)
}

fn done(json: bool, lines: Vec<String>, extra: serde_json::Value) -> anyhow::Result<ExitCode> {
    if json {
        let mut v = serde_json::json!({"ok": true, "message": lines.join("\n")});
        if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        out!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for l in lines {
            out!("{l}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn write_op(
    addr: &str,
    opts: &cluster::ClientOptions,
    json: bool,
    op: AdminOp,
) -> anyhow::Result<ExitCode> {
    match Client::new(addr, opts).admin(&op).await {
        Ok(r) => done(
            json,
            vec![r.message],
            serde_json::json!({"node_id": r.node_id}),
        ),
        Err(e) => fail(json, e.explain()),
    }
}

/// `leave`: the asked node transfers leadership if it leads, drains, waits, removes itself
/// ([`Client::leave`]); each step is printed as it is done.
async fn leave(
    addr: &str,
    opts: &cluster::ClientOptions,
    json: bool,
    wait_timeout: std::time::Duration,
) -> anyhow::Result<ExitCode> {
    let mut lines = Vec::new();
    let step = |line: String| {
        if !json {
            out!("{line}");
        }
        lines.push(line);
    };
    let me = match Client::new(addr, opts).leave(wait_timeout, step).await {
        Ok(me) => me,
        Err(cluster::Error::NotReady) => {
            return fail(json, format!("the node at {addr} has not joined a cluster"))
        }
        Err(e) => return fail(json, e.explain()),
    };
    let last = "this node has left: stop its service and wipe its data directory before reusing it";
    if json {
        lines.push(last.into());
        out!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"ok": true, "node_id": me, "steps": lines})
            )?
        );
    } else {
        out!("{last}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The configuration, when it is a standalone node's (no `[cluster]`) and no `--addr` asks
/// another node: there is no cluster to ask.
fn standalone(config: &Path, admin: &AdminArgs) -> Option<Config> {
    if admin.addr.is_some() {
        return None;
    }
    Config::load(config).ok().filter(|c| c.cluster.is_none())
}

/// `status` on a standalone node: what its agent's last cycles did.
fn standalone_status(cfg: &Config, json: bool) -> anyhow::Result<ExitCode> {
    let cycles = collect::last_cycle::load(&cfg.node.data_dir).unwrap_or_default();
    if json {
        let v =
            serde_json::json!({"standalone": true, "node": cfg.node.name, "last_cycles": cycles});
        out!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    out!(
        "{}: standalone node (no [cluster] in {}): no cluster to ask",
        cfg.node.name,
        cfg.file.display()
    );
    let now = chrono::Utc::now().timestamp();
    for vc in &cfg.vcenters {
        match cycles.get(&vc.name) {
            Some(c) => out!(
                "vCenter {}: last cycle {}s ago, {} samples in {:.2}s{}",
                vc.name,
                now - c.at,
                c.samples,
                c.duration_ms as f64 / 1000.0,
                c.error
                    .as_deref()
                    .map(|e| format!(", error: {e}"))
                    .unwrap_or_default()
            ),
            None => out!("vCenter {}: no cycle yet", vc.name),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The node address and token an admin subcommand uses: flags and environment first, then
/// the configuration file (this node's advertised or listen address, the cluster token).
fn admin_target(
    config: &Path,
    admin: &AdminArgs,
) -> anyhow::Result<(String, cluster::ClientOptions)> {
    let cfg = match (&admin.addr, &admin.token_file) {
        (Some(_), Some(_)) => None,
        _ => Some(Config::load(config).with_context(|| {
            "no --addr/--token-file (or VCOLLECT_ADDR/VCOLLECT_TOKEN_FILE) given, and the \
             configuration cannot tell them"
                .to_string()
        })?),
    };
    // `cfg` is loaded whenever a flag is missing, so these fall back to it.
    let addr = admin
        .addr
        .clone()
        .or_else(|| cfg.as_ref().map(daemon::local_addr))
        .context("no --addr given")?;
    let token = match &admin.token_file {
        Some(f) => {
            vcollect::secret::read_text(f).map_err(|e| anyhow::anyhow!("the token file: {e}"))?
        }
        None => cfg
            .as_ref()
            .and_then(|c| c.cluster.as_ref())
            .and_then(|cl| cl.token.clone())
            .context("the configuration has no [cluster] token_file; pass --token-file")?,
    };
    let mut opts = match cfg.as_ref().and_then(|c| c.cluster.as_ref()) {
        Some(cc) => cluster::ClientOptions::from_config(cc)
            .map_err(|e| anyhow::anyhow!("cluster TLS settings: {e}"))?,
        None => cluster::ClientOptions::new(None, admin.timeout),
    };
    opts.token = Some(token);
    opts.timeout = admin.timeout;
    Ok((addr, opts))
}
