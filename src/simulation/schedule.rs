//! A schedule: the faults one seed injects, and when. Pure: the same seed gives the same
//! schedule, whatever the machine.

use std::fmt;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// Nodes in a simulated cluster: its bootstrap set.
pub const NODES: usize = 3;
/// The spare node (`n4`): not in the bootstrap set, started empty when a schedule replaces
/// a node ([`Action::Replace`]), and then joins as an admin's new machine does.
pub const SPARE: usize = NODES;
/// Every node a schedule can have: the bootstrap set and the spare.
pub const MAX_NODES: usize = NODES + 1;

/// What the driver does to the world at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// The node's process dies: every task, socket and open file of it is gone.
    Kill(usize),
    /// The killed node starts again on its data directory.
    Restart(usize),
    /// Nothing passes between the two nodes, either way.
    Partition(usize, usize),
    /// Messages from the first node to the second are lost; the other way works.
    PartitionOneWay(usize, usize),
    /// Every partition and one-way cut ends.
    RepairAll,
    /// Messages between the two nodes take up to this long (and are reordered).
    Slow(usize, usize, Duration),
    /// Messages between the two nodes are as fast as the rest again.
    Fast(usize, usize),
    /// The sink refuses every write.
    SinkDown,
    SinkUp,
    /// Every `every`-th entity's samples are posted this many seconds behind vCenter's clock
    /// (the usual lag is [`super::world::NORMAL_LAG`]).
    Late {
        every: usize,
        lag: i64,
    },
    /// Every entity is posted with the usual lag again.
    OnTime,
    /// Each QueryPerf call takes up to this long (a loaded vCenter), not the usual 50-800 ms.
    SlowVcenter(Duration),
    /// Each write to the sink takes up to this long (a loaded InfluxDB): it lands then.
    SlowSink(Duration),
    /// vCenter and the sink answer at their usual pace again.
    Brisk,
    /// This percentage of QueryPerf calls fails as a whole.
    FailCalls(u32),
    /// Every node's wall clock jumps by this many seconds (it stays there).
    ClockJump(i64),
    /// An admin drains the node (`vcollect drain`), through any node.
    Drain(usize),
    /// An admin undrains it.
    Undrain(usize),
    /// An admin hands the leadership to the most caught-up voter.
    TransferLeader,
    /// Every sync of the node's store fails: an fsync error, or a full disk.
    DiskFails {
        node: usize,
        full: bool,
    },
    /// The node's disk works again (and the node restarts if its store failed meanwhile).
    DiskWorks(usize),
    /// The node dies for good (its machine is gone) and the spare starts on an empty disk:
    /// it joins the cluster through its peers.
    Replace(usize),
    /// An admin removes the dead node (`vcollect remove`), through any node.
    Remove(usize),
    /// An admin runs `vcollect leave` against the running node (it hands the leadership on
    /// if it leads, drains, waits for its buckets' new owners, and removes itself) and, this
    /// long after the command returned, stops the node's service for good (`None`: never).
    Leave {
        node: usize,
        stop_after: Option<Duration>,
    },
    /// An admin removes the running node with `vcollect remove --force`: no drain, no wait,
    /// its buckets move at once while it still runs (a leader is first asked to hand the
    /// leadership on, as the CLI's refusal tells the admin to).
    ForceRemove(usize),
    /// The node's service is stopped for good (after a forced removal).
    Stop(usize),
    /// The node's machine is re-imaged: its process dies and its data directory is deleted.
    /// [`Action::Restart`] then starts it under the same name on the empty disk: a new
    /// incarnation, which joins as a new member while its old id is taken out.
    Wipe(usize),
    /// The node's machine is backed up as it reboots (a VM snapshot or a backup taken while
    /// the service is down): the process dies, a copy of its data directory is kept, and it
    /// starts again at once.
    Backup(usize),
    /// The node's machine is restored from that backup: the process dies and its data
    /// directory goes back to the copy, with the log, the vote and the term it had then.
    /// [`Action::Restart`] then starts it on the restored disk under the same id.
    Restore(usize),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Kill(n) => write!(f, "kill n{}", n + 1),
            Action::Restart(n) => write!(f, "restart n{}", n + 1),
            Action::Partition(a, b) => write!(f, "partition n{} n{}", a + 1, b + 1),
            Action::PartitionOneWay(a, b) => write!(f, "cut n{} -> n{}", a + 1, b + 1),
            Action::RepairAll => write!(f, "repair the network"),
            Action::Slow(a, b, d) => write!(f, "slow n{} n{} up to {d:?}", a + 1, b + 1),
            Action::Fast(a, b) => write!(f, "fast n{} n{}", a + 1, b + 1),
            Action::SinkDown => write!(f, "sink down"),
            Action::SinkUp => write!(f, "sink up"),
            Action::Late { every, lag } => write!(f, "every {every}th entity {lag} s late"),
            Action::OnTime => write!(f, "entities on time"),
            Action::SlowVcenter(d) => write!(f, "QueryPerf calls take up to {d:?}"),
            Action::SlowSink(d) => write!(f, "sink writes take up to {d:?}"),
            Action::Brisk => write!(f, "vCenter and the sink at their usual pace"),
            Action::FailCalls(p) => write!(f, "{p} % of QueryPerf calls fail"),
            Action::ClockJump(s) => write!(f, "wall clocks jump {s} s"),
            Action::Drain(n) => write!(f, "admin: drain n{}", n + 1),
            Action::Undrain(n) => write!(f, "admin: undrain n{}", n + 1),
            Action::TransferLeader => write!(f, "admin: transfer the leadership"),
            Action::DiskFails { node, full: true } => write!(f, "n{}'s disk is full", node + 1),
            Action::DiskFails { node, full: false } => write!(f, "n{}'s fsyncs fail", node + 1),
            Action::DiskWorks(n) => write!(f, "n{}'s disk works again", n + 1),
            Action::Replace(n) => write!(f, "n{} is gone for good; n{} starts", n + 1, SPARE + 1),
            Action::Remove(n) => write!(f, "admin: remove n{}", n + 1),
            Action::Leave { node, stop_after } => {
                write!(f, "admin: n{} leaves; its service ", node + 1)?;
                match stop_after {
                    Some(d) => write!(f, "stopped {d:?} after"),
                    None => write!(f, "never stopped"),
                }
            }
            Action::ForceRemove(n) => write!(f, "admin: remove --force n{} (running)", n + 1),
            Action::Stop(n) => write!(f, "n{}'s service is stopped", n + 1),
            Action::Wipe(n) => write!(f, "n{} is re-imaged: killed, its data deleted", n + 1),
            Action::Backup(n) => write!(f, "n{} is backed up as it reboots", n + 1),
            Action::Restore(n) => write!(f, "n{} is restored from its backup: killed", n + 1),
        }
    }
}

/// One seed's schedule: actions at simulated times, then the heal.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub seed: u64,
    /// Sorted by time.
    pub actions: Vec<(Duration, Action)>,
    /// When every fault has ended (the heal), after which the cluster must converge.
    pub healed_at: Duration,
    /// When the run ends and the final checks run.
    pub ends_at: Duration,
}

/// How long faults are injected, and how long the healed cluster then runs before the final
/// checks: long enough for a restarted node, a returning sink and late samples to catch up.
pub const FAULT_WINDOW: Duration = Duration::from_secs(150);
pub const SETTLE: Duration = Duration::from_secs(120);
/// Faults start once the cluster had time to form and collect once.
pub const FIRST_FAULT: Duration = Duration::from_secs(25);

/// The schedule of `seed`: two to six faults in [`FAULT_WINDOW`], each lasting 3 to 60 s
/// (an admin's drain lasts as long, until its undrain).
pub fn schedule(seed: u64) -> Schedule {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut actions = Vec::new();
    let faults = rng.random_range(2..=6);
    let window = FAULT_WINDOW.as_millis() as u64;
    for _ in 0..faults {
        let at = FIRST_FAULT + Duration::from_millis(rng.random_range(0..window));
        let lasts = Duration::from_millis(rng.random_range(3_000..60_000));
        let a = rng.random_range(0..NODES);
        let b = (a + rng.random_range(1..NODES)) % NODES;
        let (start, end) = match rng.random_range(0..12) {
            0 | 1 => (Action::Kill(a), Action::Restart(a)),
            2 => (Action::Partition(a, b), Action::RepairAll),
            3 => (Action::PartitionOneWay(a, b), Action::RepairAll),
            4 => {
                let d = Duration::from_millis(rng.random_range(50..2_000));
                (Action::Slow(a, b, d), Action::Fast(a, b))
            }
            5 => (Action::SinkDown, Action::SinkUp),
            6 => {
                let every = rng.random_range(2..6);
                let lag = rng.random_range(60..600);
                (Action::Late { every, lag }, Action::OnTime)
            }
            7 => (
                Action::FailCalls(rng.random_range(20..100)),
                Action::FailCalls(0),
            ),
            8 => (Action::Drain(a), Action::Undrain(a)),
            9 => {
                // A transfer is one moment; the schedule's second action is another.
                (Action::TransferLeader, Action::TransferLeader)
            }
            10 => {
                let full = rng.random_bool(0.5);
                (Action::DiskFails { node: a, full }, Action::DiskWorks(a))
            }
            _ => {
                let jump = rng.random_range(-600..600);
                (Action::ClockJump(jump), Action::ClockJump(-jump))
            }
        };
        actions.push((at, start));
        actions.push((at + lasts, end));
    }
    actions.extend(slowness(seed));
    // At most one node leaves the voters by these, in this order of precedence: two would
    // leave one voter of three, and no quorum to add or remove any.
    let one_node = [
        replacement as fn(u64) -> _,
        departure,
        forced_removal,
        reimage,
        restore,
    ];
    if let Some(gone) = one_node.iter().map(|f| f(seed)).find(|a| !a.is_empty()) {
        actions.extend(gone);
    }
    Schedule::new(seed, actions)
}

/// One schedule in five replaces a node: it dies for good, the spare joins, and 5 to 40 s
/// later an admin removes the dead one. Drawn from a generator of its own, so that the other
/// faults of a seed are the same with or without it.
fn replacement(seed: u64) -> Vec<(Duration, Action)> {
    let Some((mut rng, old, at)) = one_in_five(seed, 0x4e0d_e5ba_7e00_0001) else {
        return Vec::new();
    };
    let remove_after = Duration::from_millis(rng.random_range(5_000..40_000));
    vec![
        (at, Action::Replace(old)),
        (at + remove_after, Action::Remove(old)),
    ]
}

/// One schedule in five of those that replace no node has a running node leave, as an
/// admin decommissions a machine: `vcollect leave`, and 5 to 60 s after it returned, the
/// node's service stopped; one time in three never: the node that left runs on beside the
/// cluster to the end. Not with a replacement: the two together leave one voter of three,
/// and no quorum to add or remove any. Drawn from a generator of its own, like
/// [`replacement`].
fn departure(seed: u64) -> Vec<(Duration, Action)> {
    let Some((mut rng, node, at)) = one_in_five(seed, 0x1ea7_e5ba_7e00_0002) else {
        return Vec::new();
    };
    let stop_after =
        (!rng.random_ratio(1, 3)).then(|| Duration::from_millis(rng.random_range(5_000..60_000)));
    vec![(at, Action::Leave { node, stop_after })]
}

/// One schedule in five of those with neither a replacement nor a departure has an admin
/// remove a running node with `--force` (no drain first, so its buckets move while it still
/// collects them), and 5 to 60 s later stop its service; one time in three never: it runs
/// on, removed, to the end. Drawn from a generator of its own, like [`replacement`].
fn forced_removal(seed: u64) -> Vec<(Duration, Action)> {
    let Some((mut rng, node, at)) = one_in_five(seed, 0xf0ce_e5ba_7e00_0003) else {
        return Vec::new();
    };
    let mut actions = vec![(at, Action::ForceRemove(node))];
    if !rng.random_ratio(1, 3) {
        let after = Duration::from_millis(rng.random_range(5_000..60_000));
        actions.push((at + after, Action::Stop(node)));
    }
    actions
}

/// One schedule in three has vCenter or the sink slow for 3 to 60 s: each QueryPerf call, or
/// each write, takes up to 1 to 30 s, so that a cycle outlasts its 20 s and a handover can
/// happen while a call or a write is under way. Drawn from a generator of its own, like
/// [`replacement`].
fn slowness(seed: u64) -> Vec<(Duration, Action)> {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x510e_e5ba_7e00_0005);
    if !rng.random_ratio(1, 3) {
        return Vec::new();
    }
    let at =
        FIRST_FAULT + Duration::from_millis(rng.random_range(0..FAULT_WINDOW.as_millis() as u64));
    let lasts = Duration::from_millis(rng.random_range(3_000..60_000));
    let up_to = Duration::from_millis(rng.random_range(1_000..30_000));
    let slow = if rng.random_bool(0.5) {
        Action::SlowVcenter(up_to)
    } else {
        Action::SlowSink(up_to)
    };
    vec![(at, slow), (at + lasts, Action::Brisk)]
}

/// One schedule in five of those with no replacement, departure or forced removal has a
/// node re-imaged, as an admin rebuilds a machine under its old name: it dies with its data,
/// and 3 to 60 s later starts on an empty disk. Not with those others: a voter gone for good
/// beside one that lost its disk leaves one voter of three, and no quorum to let the new
/// incarnation join. Drawn from a generator of its own, like [`replacement`].
fn reimage(seed: u64) -> Vec<(Duration, Action)> {
    let Some((mut rng, node, at)) = one_in_five(seed, 0x01d1_e5ba_7e00_0004) else {
        return Vec::new();
    };
    let down = Duration::from_millis(rng.random_range(3_000..60_000));
    vec![(at, Action::Wipe(node)), (at + down, Action::Restart(node))]
}

/// One schedule in five of those with none of the above has a node restored from a backup,
/// as an admin restores a collector's VM from a snapshot or last night's backup: the node is
/// backed up as it reboots, 10 to 40 s later it is killed and its disk goes back to the
/// backup, and 3 to 20 s after that it starts on it, behind what it had acknowledged (both
/// within the fault window's last 60 s, so that the restart comes before the heal). Not with
/// the others: a voter that lost its recent log beside one gone for good can leave no quorum
/// that holds the latest entries. Drawn from a generator of its own, like [`replacement`].
fn restore(seed: u64) -> Vec<(Duration, Action)> {
    let Some((mut rng, node, at)) = one_in_five(seed, 0x8ac0_e5ba_7e00_0006) else {
        return Vec::new();
    };
    let restored = at + Duration::from_millis(rng.random_range(10_000..40_000));
    let down = Duration::from_millis(rng.random_range(3_000..20_000));
    vec![
        (at, Action::Backup(node)),
        (restored, Action::Restore(node)),
        (restored + down, Action::Restart(node)),
    ]
}

/// One schedule in five, drawn from the seed's generator salted with `salt`: that generator
/// for the rest of its draws, a node of the bootstrap set, and a moment in the fault window.
fn one_in_five(seed: u64, salt: u64) -> Option<(SmallRng, usize, Duration)> {
    let mut rng = SmallRng::seed_from_u64(seed ^ salt);
    if !rng.random_ratio(1, 5) {
        return None;
    }
    let node = rng.random_range(0..NODES);
    let at =
        FIRST_FAULT + Duration::from_millis(rng.random_range(0..FAULT_WINDOW.as_millis() as u64));
    Some((rng, node, at))
}

impl Schedule {
    /// The schedule of these actions (sorted here), healed and ended as every schedule is.
    pub fn new(seed: u64, mut actions: Vec<(Duration, Action)>) -> Schedule {
        actions.sort_by_key(|(at, _)| *at);
        let healed_at = FIRST_FAULT + FAULT_WINDOW + Duration::from_secs(60);
        Schedule {
            seed,
            actions,
            healed_at,
            ends_at: healed_at + SETTLE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_schedule_every_time() {
        let a = schedule(7);
        let b = schedule(7);
        assert_eq!(a.actions, b.actions);
        assert_ne!(a.actions, schedule(8).actions);
    }

    #[test]
    fn some_schedules_replace_a_node_and_remove_it_after() {
        let replacing: Vec<Schedule> = (0..200)
            .map(schedule)
            .filter(|s| {
                s.actions
                    .iter()
                    .any(|(_, a)| matches!(a, Action::Replace(_)))
            })
            .collect();
        assert!((20..=80).contains(&replacing.len()), "{}", replacing.len());
        for s in replacing {
            let at = |want: fn(&Action) -> bool| s.actions.iter().position(|(_, a)| want(a));
            let replaced = at(|a| matches!(a, Action::Replace(_))).unwrap();
            let removed = at(|a| matches!(a, Action::Remove(_))).unwrap();
            assert!(replaced < removed, "seed {}", s.seed);
        }
    }

    #[test]
    fn some_schedules_have_a_node_leave_and_none_also_replaces_one() {
        let mut leaving = 0;
        let mut never_stopped = 0;
        for s in (0..500).map(schedule) {
            let has = |want: fn(&Action) -> bool| s.actions.iter().find(|(_, a)| want(a));
            let Some((_, leave)) = has(|a| matches!(a, Action::Leave { .. })) else {
                continue;
            };
            leaving += 1;
            assert!(
                has(|a| matches!(a, Action::Replace(_))).is_none(),
                "seed {}",
                s.seed
            );
            if matches!(
                leave,
                Action::Leave {
                    stop_after: None,
                    ..
                }
            ) {
                never_stopped += 1;
            }
        }
        assert!((50..=110).contains(&leaving), "{leaving}");
        assert!(
            (5..leaving / 2).contains(&never_stopped),
            "{never_stopped} of {leaving}"
        );
    }

    #[test]
    fn some_schedules_force_a_running_node_out_and_none_also_departs() {
        let mut forced = 0;
        let mut stopped = 0;
        for s in (0..1000).map(schedule) {
            let has = |want: fn(&Action) -> bool| s.actions.iter().any(|(_, a)| want(a));
            if !has(|a| matches!(a, Action::ForceRemove(_))) {
                assert!(!has(|a| matches!(a, Action::Stop(_))), "seed {}", s.seed);
                continue;
            }
            forced += 1;
            let other = |a: &Action| matches!(a, Action::Replace(_) | Action::Leave { .. });
            assert!(!has(other), "seed {}", s.seed);
            stopped += usize::from(has(|a| matches!(a, Action::Stop(_))));
        }
        // 1/5 of the 64 % with neither a replacement nor a departure: about 128.
        assert!((80..=180).contains(&forced), "{forced}");
        assert!(
            (forced / 2..forced).contains(&stopped),
            "{stopped} of {forced}"
        );
    }

    #[test]
    fn some_schedules_reimage_a_node_and_none_also_loses_one_for_good() {
        let mut wiped = 0;
        for s in (0..1000).map(schedule) {
            let has = |want: fn(&Action) -> bool| s.actions.iter().any(|(_, a)| want(a));
            if !has(|a| matches!(a, Action::Wipe(_))) {
                continue;
            }
            wiped += 1;
            let gone = |a: &Action| {
                matches!(
                    a,
                    Action::Replace(_) | Action::Leave { .. } | Action::ForceRemove(_)
                )
            };
            assert!(!has(gone), "seed {}", s.seed);
        }
        // 1/5 of the 51 % with none of those: about 100.
        assert!((60..=150).contains(&wiped), "{wiped}");
    }

    #[test]
    fn a_third_of_the_schedules_have_a_slow_vcenter_or_sink() {
        let slow = (0..1000)
            .map(schedule)
            .filter(|s| {
                s.actions
                    .iter()
                    .any(|(_, a)| matches!(a, Action::SlowVcenter(_) | Action::SlowSink(_)))
            })
            .count();
        assert!((280..=390).contains(&slow), "{slow}");
    }

    #[test]
    fn every_fault_ends_before_the_heal() {
        for seed in 0..1000 {
            let s = schedule(seed);
            assert!(s.actions.windows(2).all(|w| w[0].0 <= w[1].0));
            assert!(s.actions.iter().all(|(at, _)| *at < s.healed_at));
        }
    }
}
