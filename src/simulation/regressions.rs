//! Schedules that once broke an invariant, kept so that they stay fixed: CI replays each
//! twice, each time in a process of its own (`vcollect-simulate --regressions`), and fails on
//! a violation (two traces that differ are reported: a server's h2 still reads the real
//! clock). Each keeps its actions as they were found (the generator may change) and its seed
//! (which still draws the network's and openraft's randomness).

use std::time::Duration;

use super::schedule::{Action, Schedule};

/// A schedule that found a bug.
pub struct Regression {
    pub seed: u64,
    /// What it found, and the fix.
    pub found: &'static str,
    /// Its actions, at milliseconds of simulated time.
    pub actions: &'static [(u64, Action)],
}

impl Regression {
    pub fn schedule(&self) -> Schedule {
        let actions = self
            .actions
            .iter()
            .map(|(ms, a)| (Duration::from_millis(*ms), a.clone()))
            .collect();
        Schedule::new(self.seed, actions)
    }
}

const fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

pub const REGRESSIONS: &[Regression] = &[
    Regression {
        seed: 12,
        found: "a link slower than the AppendEntries deadline (up to 839 ms): the follower \
                heard a leader that no longer heard it, kept counting itself in contact, and \
                collected the buckets the leader had moved away for 16 s; fixed by the \
                leader's acknowledgement age on every AppendEntries (cluster/network.rs, ACK_AGE)",
        actions: &[
            (34_780, Action::Slow(2, 0, ms(839))),
            (39_760, Action::Drain(2)),
            (46_960, Action::Undrain(2)),
            (71_720, Action::Fast(2, 0)),
            (122_660, Action::ClockJump(-319)),
            (157_200, Action::Kill(0)),
            (157_820, Action::ClockJump(319)),
            (198_640, Action::Restart(0)),
        ],
    },
    Regression {
        seed: 30,
        found: "the same, on a link slow up to 563 ms after a one-way cut",
        actions: &[
            (37_840, Action::SinkDown),
            (55_460, Action::SinkUp),
            (71_160, Action::PartitionOneWay(2, 0)),
            (93_780, Action::RepairAll),
            (121_080, Action::Slow(1, 2, ms(563))),
            (146_560, Action::Fast(1, 2)),
        ],
    },
    Regression {
        seed: 38,
        found: "the same, among a partition, a one-way cut and a drain",
        actions: &[
            (52_120, Action::ClockJump(-397)),
            (67_240, Action::Drain(2)),
            (86_360, Action::SinkDown),
            (100_340, Action::ClockJump(397)),
            (100_400, Action::Undrain(2)),
            (113_900, Action::SinkUp),
            (157_140, Action::Partition(2, 1)),
            (161_580, Action::Slow(1, 0, ms(974))),
            (165_920, Action::PartitionOneWay(2, 0)),
            (192_600, Action::RepairAll),
            (195_160, Action::Fast(1, 0)),
            (196_940, Action::RepairAll),
        ],
    },
    Regression {
        seed: 1277,
        found: "a restarted follower's replica still said what it owned before it was killed; \
                a leader reached it, then leadership moved to a node partitioned from it, and \
                it collected its old buckets beside their new owners for failure_timeout; \
                fixed: a restarted follower collects once its replica has applied its first \
                leader's commit index (cluster/assignment.rs, in_contact)",
        actions: &[
            (26_500, Action::Kill(1)),
            (32_760, Action::FailCalls(44)),
            (33_640, Action::Partition(2, 1)),
            (42_000, Action::TransferLeader),
            (48_560, Action::FailCalls(0)),
            (69_440, Action::Restart(1)),
            (70_060, Action::TransferLeader),
            (78_800, Action::RepairAll),
            (137_500, Action::Late { every: 2, lag: 103 }),
            (168_920, Action::OnTime),
        ],
    },
    Regression {
        seed: 572,
        found: "a link slow up to 291 ms: heartbeats got through now and then, log entries \
                did not (each timed out, and openraft backed off); the leader marked the \
                follower down and moved its buckets, the next answered heartbeat gave the \
                follower a fresh acknowledgement age, and its replica, without the entries \
                that moved them, said it still owned them: it collected them beside their new \
                owners for more than 3 s; fixed: a member marked down is told at least \
                failure_timeout (cluster/network.rs, told_age), and a follower whose replica \
                has been behind its leader's commit index for failure_timeout / 2 stops \
                (cluster/assignment.rs, in_contact)",
        actions: &[
            (61_720, Action::Slow(0, 2, ms(291))),
            (82_080, Action::FailCalls(55)),
            (84_040, Action::Replace(2)),
            (100_160, Action::Remove(2)),
            (116_200, Action::Fast(0, 2)),
            (119_860, Action::Kill(0)),
            (131_320, Action::FailCalls(0)),
            (151_820, Action::Restart(0)),
        ],
    },
    Regression {
        seed: 331,
        found: "`vcollect leave` of a node whose disk then failed: its Raft stopped and dropped \
                the replica's channel, and the drain wait it served went round on the closed \
                channel without ever waiting (100 % of a core until the deadline; in the \
                simulation, time never moved again); fixed: the wait ends, unavailable, when \
                the replica stops (cluster/admin.rs, DrainWait::next_change)",
        actions: &[
            (59_922, Action::Kill(2)),
            (64_712, Action::Restart(2)),
            (116_001, Action::Late { every: 4, lag: 515 }),
            (129_058, Action::OnTime),
            (
                139_905,
                Action::Leave {
                    node: 0,
                    stop_after: Some(ms(17_653)),
                },
            ),
            (
                148_259,
                Action::DiskFails {
                    node: 0,
                    full: false,
                },
            ),
            (194_929, Action::DiskWorks(0)),
        ],
    },
    Regression {
        seed: 1852,
        found: "a connection that died while its node had nothing to send on it: n1's channel \
                to n2 lost bytes in a partition (turmoil's links do not retransmit) and n2 was \
                killed behind it; n1, a follower then, had no call open, so h2 never pinged; \
                elected later, n1 sent nothing on it, every call timed out, n2 was never \
                heard again, and with n3 removed the two voters lost their quorum for good \
                (40 VMs' samples never written); fixed: the peers' channels ping while idle \
                too, so such a connection is closed within 15 s and dialled again \
                (cluster/rpc.rs, keep_alive_while_idle)",
        actions: &[
            (36_980, Action::ClockJump(-38)),
            (
                61_600,
                Action::DiskFails {
                    node: 0,
                    full: false,
                },
            ),
            (91_520, Action::ClockJump(38)),
            (111_700, Action::DiskWorks(0)),
            (113_300, Action::TransferLeader),
            (
                153_240,
                Action::Leave {
                    node: 2,
                    stop_after: Some(ms(30_336)),
                },
            ),
            (157_460, Action::Partition(1, 0)),
            (160_060, Action::SinkDown),
            (165_000, Action::TransferLeader),
            (171_100, Action::Kill(1)),
            (190_980, Action::RepairAll),
            (195_540, Action::SinkUp),
            (229_540, Action::Restart(1)),
        ],
    },
    Regression {
        seed: 486,
        found: "a machine of the bootstrap set rebuilt under its old name (n1, its data deleted) \
                started while the cluster had no leader (a one-way cut n3 -> n2): both its \
                joins failed, every bootstrap peer had answered its hello, and it formed the \
                cluster again as its old id 1 with an empty log, a voter that forgot its vote \
                and its log; it was then handed buckets whose samples were never written (14 \
                VMs) and some bucket had no active owner at the end; fixed: a pristine node \
                that sees a formed cluster only joins it, however many joins fail \
                (cluster/node.rs, Bootstrap::Joining)",
        actions: &[
            (80_462, Action::Wipe(0)),
            (116_697, Action::Late { every: 2, lag: 469 }),
            (125_908, Action::PartitionOneWay(2, 1)),
            (126_527, Action::Restart(0)),
            (139_588, Action::OnTime),
            (144_462, Action::RepairAll),
            (149_739, Action::Partition(2, 0)),
            (202_535, Action::RepairAll),
        ],
    },
    Regression {
        seed: 4409,
        found: "a membership change that outlasted its 3 s: while n2 restarted and the link \
                n3 -> n2 was slow, the leader's RemoveVoter(1) (n1's old id, n1 rebuilt) \
                proposed its joint configuration and the controller gave up waiting; openraft \
                proposes the uniform half only from the caller's future, so the joint \
                configuration committed later and was never flattened, and the controller \
                waited for it for ever: n1's new incarnation (node 4) was never added, stayed \
                down, and some bucket had no active owner at the end; fixed: the controller \
                finishes a committed joint configuration before any other change \
                (cluster/controller.rs, Progress::Joint)",
        actions: &[
            (71_837, Action::Slow(0, 1, ms(1842))),
            (88_796, Action::Slow(2, 0, ms(1303))),
            (98_059, Action::Fast(2, 0)),
            (105_393, Action::Wipe(0)),
            (107_889, Action::Fast(0, 1)),
            (130_409, Action::Kill(1)),
            (133_502, Action::PartitionOneWay(0, 1)),
            (
                135_930,
                Action::DiskFails {
                    node: 1,
                    full: false,
                },
            ),
            (142_619, Action::RepairAll),
            (150_876, Action::Restart(0)),
            (162_262, Action::Slow(2, 1, ms(307))),
            (166_834, Action::Restart(1)),
            (174_843, Action::DiskWorks(1)),
            (197_337, Action::Fast(2, 1)),
        ],
    },
];
