//! `vcollect-simulate`: runs seeded fault schedules against a simulated three-node cluster
//! (see `vcollect::simulation`) and reports every violated invariant with its seed.
//!
//! ```text
//! vcollect-simulate --seeds 1000 [--from 0] [--jobs 2]   # many schedules, in parallel
//! vcollect-simulate --seed 42                             # one schedule, with its trace
//! vcollect-simulate --regressions --seeds 100             # the regression seeds first
//! ```
//! `--regressions` replays every schedule of `simulation::regressions` twice: a violation
//! counts; two traces that differ are reported, not failed (a server's h2 still reads the real
//! clock: docs/architecture.md, "The simulation").
//! The last line is always `N schedules, V violations`; the exit status is 1 when V > 0.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::Parser;
use vcollect::simulation::{self, schedule::Action, Outcome};

#[derive(Parser)]
#[command(about = "Runs seeded fault schedules against a simulated vcollect cluster")]
struct Args {
    /// Replay one schedule and print its trace.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Run this many schedules, seeds `from` to `from + seeds - 1`.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Schedules run at once (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
    /// First replay the regression seeds, twice each.
    #[arg(long)]
    regressions: bool,
    /// Replay the regression schedule of this seed and print its trace (what `--regressions`
    /// runs, each in a process of its own).
    #[arg(long, hide = true, conflicts_with_all = ["seed", "seeds", "regressions"])]
    regression: Option<u64>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    // The nodes' own logs, for a replay: RUST_LOG=vcollect=debug, stamped with simulated time
    // (not the wall clock: two replays compare line by line, and a line matches the trace).
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_timer(SimTime)
            .with_writer(std::io::stderr)
            .init();
    }
    if let Some(seed) = args.seed {
        return replay(simulation::run(seed));
    }
    if let Some(seed) = args.regression {
        let Some(r) = simulation::regressions::REGRESSIONS
            .iter()
            .find(|r| r.seed == seed)
        else {
            eprintln!("no regression schedule has seed {seed}");
            return exit(false);
        };
        return replay(simulation::run_schedule(r.schedule()));
    }
    let mut failed = if args.regressions { regressions() } else { 0 };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let next = Arc::new(AtomicU64::new(args.from));
    let end = args.from + args.seeds;
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let started = Instant::now();
    let workers: Vec<_> = (0..jobs)
        .map(|_| {
            let (next, outcomes) = (next.clone(), outcomes.clone());
            std::thread::spawn(move || loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= end {
                    return;
                }
                let out = simulation::run(seed);
                report(&out);
                outcomes.lock().unwrap_or_else(|p| p.into_inner()).push(out);
            })
        })
        .collect();
    for w in workers {
        if w.join().is_err() {
            eprintln!("a simulation thread panicked outside a schedule");
        }
    }
    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap_or_else(|p| p.into_inner()));
    let elapsed = started.elapsed().as_secs_f64();
    let violations: Vec<String> = outcomes
        .iter()
        .flat_map(|o| {
            o.violations
                .iter()
                .map(move |v| format!("seed {}: {v}", o.seed))
        })
        .collect();
    let stats: Vec<_> = outcomes.iter().map(|o| o.stats.clone()).collect();
    summary(&stats, &violations);
    mix(&outcomes);
    println!(
        "{:.1} schedules per second ({jobs} jobs, {elapsed:.0} s)",
        outcomes.len() as f64 / elapsed
    );
    let replayed = if args.regressions {
        2 * simulation::regressions::REGRESSIONS.len()
    } else {
        0
    };
    failed += violations.len();
    println!(
        "{} schedules, {failed} violations",
        outcomes.len() + replayed
    );
    exit(failed == 0)
}

/// Prints one schedule's trace, its figures and its violations.
fn replay(out: Outcome) -> std::process::ExitCode {
    for line in &out.trace {
        println!("{line}");
    }
    summary(std::slice::from_ref(&out.stats), &out.violations);
    report(&out);
    println!("1 schedules, {} violations", out.violations.len());
    exit(out.violations.is_empty())
}

/// Replays each regression schedule twice, each replay in a process of its own (as `--seed`
/// does); returns how many violations they had.
///
/// Not in this process: a schedule run after others in one process may take another course
/// (seed 4409 did, one run in three), and a regression must replay what was found, which was
/// the run of a fresh process.
fn regressions() -> usize {
    let mut failed = 0;
    for r in simulation::regressions::REGRESSIONS {
        let (seed, found) = (r.seed, r.found);
        let (first, again) = match (replay_apart(seed), replay_apart(seed)) {
            (Ok(first), Ok(again)) => (first, again),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("regression seed {seed}: cannot replay it: {e}");
                failed += 1;
                continue;
            }
        };
        let violations = violations_of(&first);
        failed += violations;
        if first != again {
            // Not yet a failure: the servers' h2 still forgets the streams it reset after a
            // second of real time, which a loaded machine can make matter (docs/architecture.md,
            // "The simulation"). The invariants above are what the regression must keep.
            eprintln!(
                "warning: seed {seed} replayed with a different trace (the machine stalled the run past h2's real-time second?)"
            );
        }
        let verdict = if violations == 0 { "holds" } else { "FAILS" };
        println!("regression seed {seed} {verdict} (it found: {found})");
    }
    failed
}

/// Runs `vcollect-simulate --regression <seed>` and returns what it printed (its violations
/// go to this process's standard error).
fn replay_apart(seed: u64) -> std::io::Result<String> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .args(["--regression", &seed.to_string()])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()?;
    String::from_utf8(out.stdout).map_err(std::io::Error::other)
}

/// The violations a replay's last line counts (`1 schedules, V violations`); one when it
/// has no such line (the replay died).
fn violations_of(printed: &str) -> usize {
    printed
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("1 schedules, "))
        .and_then(|l| l.strip_suffix(" violations"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

fn exit(ok: bool) -> std::process::ExitCode {
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// One line per schedule that violated something, with how to replay it.
fn report(out: &Outcome) {
    for v in &out.violations {
        eprintln!(
            "seed {}: {v} (replay: scripts/simulate.sh --seed {})",
            out.seed, out.seed
        );
    }
}

fn summary(stats: &[simulation::Stats], violations: &[String]) {
    let sum = |f: fn(&simulation::Stats) -> u64| stats.iter().map(f).sum::<u64>();
    println!(
        "calls {} (failed {}), samples written {} (rewritten {}), refused writes {}, commits {} (failed {})",
        sum(|s| s.calls),
        sum(|s| s.failed_calls),
        sum(|s| s.samples_written),
        sum(|s| s.rewritten),
        sum(|s| s.refused_writes),
        sum(|s| s.commits),
        sum(|s| s.failed_commits),
    );
    for v in violations.iter().take(20) {
        println!("violation: {v}");
    }
}

/// The faults the schedules injected, by kind, and the longest handover overlap.
fn mix(outcomes: &[Outcome]) {
    let mut kinds: BTreeMap<&'static str, u64> = BTreeMap::new();
    for o in outcomes {
        for (_, a) in &o.schedule.actions {
            let k = match a {
                Action::Kill(_) => "kill",
                Action::Partition(..) => "partition",
                Action::PartitionOneWay(..) => "one-way cut",
                Action::Slow(..) => "slow link",
                Action::SinkDown => "sink outage",
                Action::Late { .. } => "late samples",
                Action::FailCalls(p) if *p > 0 => "failing calls",
                Action::ClockJump(_) => "clock jump",
                Action::Drain(_) => "drain",
                Action::TransferLeader => "leader transfer",
                Action::DiskFails { full: true, .. } => "full disk",
                Action::DiskFails { full: false, .. } => "fsync failure",
                Action::Replace(_) => "node replaced (join, remove)",
                Action::Leave {
                    stop_after: Some(_),
                    ..
                } => "node leaves, then stopped",
                Action::Leave {
                    stop_after: None, ..
                } => "node leaves, runs on",
                Action::ForceRemove(_) => "running node removed with --force",
                Action::Stop(_) => "removed node stopped",
                Action::Wipe(_) => "node re-imaged (new incarnation)",
                Action::Restore(_) => "node restored from a backup",
                Action::SlowVcenter(_) => "slow vCenter",
                Action::SlowSink(_) => "slow sink",
                _ => continue,
            };
            *kinds.entry(k).or_default() += 1;
        }
    }
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!("faults: {}", kinds.join(", "));
    // With the seed, so that the closest call to the bound can be replayed.
    let longest = outcomes
        .iter()
        .max_by_key(|o| o.longest_overlap)
        .map(|o| format!("{:?} (seed {})", o.longest_overlap, o.seed))
        .unwrap_or_default();
    let slowest = outcomes
        .iter()
        .filter_map(|o| o.owned_after_heal.map(|d| (d, o.seed)))
        .max()
        .map(|(d, seed)| format!("{d:?} (seed {seed})"))
        .unwrap_or_default();
    println!("longest overlap {longest}, every bucket owned at most {slowest} after the heal");
}

/// Stamps the nodes' log lines with simulated time (deterministic, unlike the wall clock).
struct SimTime;

impl tracing_subscriber::fmt::time::FormatTime for SimTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        match turmoil::sim_elapsed() {
            Some(t) => write!(w, "{:9.3}", t.as_secs_f64()),
            None => write!(w, "{:>9}", "-"),
        }
    }
}
