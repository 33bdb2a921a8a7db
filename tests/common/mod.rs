//! Real parts for integration tests: the govmomi vCenter simulator and a Debian InfluxDB 1.x,
//! each started on a free loopback port with its own directory, and stopped on drop.
//!
//! Every test starts its own instances, so tests run in parallel without sharing state.
#![allow(dead_code)]

pub mod check;
pub mod cluster;
pub mod config;
pub mod grafana;
pub mod influx;
pub mod prometheus;
pub mod vcsim;
pub mod victoria;

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The project's root (where Cargo.toml is).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// This test process's own loopback address, `127.a.b.c` from its pid (all of 127/8 is
/// loopback on Linux).
///
/// Why: a test chooses its servers' ports ahead of time ([`free_port`]: bound and released)
/// because a cluster's configuration names its peers. nextest runs tests in parallel processes,
/// and on one shared address a port released here could be taken by a test beside it before
/// this test's server bound it, and this test then talked to the other test's server (a
/// suspected cause of the admin CLI test's rare failures while other tests ran beside it).
/// On an address of its own, no other process's server can take it.
pub fn host() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        let pid = std::process::id();
        // Octets 1..=250: never the network (.0) or broadcast (.255) address.
        let octet = |n: u32| 1 + n % 250;
        format!(
            "127.{}.{}.{}",
            octet(pid / 62_500),
            octet(pid / 250),
            octet(pid)
        )
    })
}

/// A free TCP port on [`host`] (bound and released), never the same one twice in a process.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let l = std::net::TcpListener::bind((host(), 0)).expect("binding a free port");
        let port = l.local_addr().expect("local addr").port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// `host:port` on this process's [`host`].
pub fn addr(port: u16) -> String {
    format!("{}:{port}", host())
}

/// [`addr`] with a [`free_port`].
pub fn free_addr() -> String {
    addr(free_port())
}

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn poll<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `vcollect once --config CONFIG EXTRA…`, asserts that it succeeded (printing both
/// streams if not), and returns its stdout and stderr.
pub async fn once_ok(config: &std::path::Path, extra: &[&str]) -> (String, String) {
    let out = tokio::process::Command::new(vcollect_bin())
        .arg("once")
        .arg("--config")
        .arg(config)
        .args(extra)
        .output()
        .await
        .expect("running vcollect once");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    (stdout, stderr)
}

/// The `vcollect` binary cargo built for this test run.
pub fn vcollect_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vcollect"))
}

/// Starts `vcollect agent --config CONFIG`: killed when the handle is dropped (a failed
/// test leaves no agent behind), stdout discarded, stderr into `log` (or discarded).
pub fn spawn_agent(
    config: &std::path::Path,
    log: Option<&std::path::Path>,
) -> tokio::process::Child {
    let stderr = match log {
        Some(path) => std::process::Stdio::from(std::fs::File::create(path).expect("agent log")),
        None => std::process::Stdio::null(),
    };
    tokio::process::Command::new(vcollect_bin())
        .args(["agent", "--config"])
        .arg(config)
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("starting vcollect agent")
}

/// Sends SIGTERM to `pid` with the system call itself: the tests must not depend on an
/// external `kill` program (a minimal system without procps has none, and an ignored spawn
/// failure turned into "did not stop within 30s").
pub fn sigterm(pid: u32) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, SIGTERM): {}",
        std::io::Error::last_os_error()
    );
}

/// The agent's `/metrics` text at `addr` (`host:port`).
pub async fn scrape(addr: &str) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("scraping /metrics")
        .text()
        .await
        .expect("/metrics text")
}

/// Polls `url` until it answers with a success status: a server the test started is up.
pub async fn wait_until_it_answers(what: &str, url: &str, timeout: Duration) {
    poll(what, timeout, || async move {
        match reqwest::get(url).await {
            Ok(r) if r.status().is_success() => Some(()),
            _ => None,
        }
    })
    .await;
}
