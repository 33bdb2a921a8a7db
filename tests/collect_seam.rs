//! The seam between the collector and the control plane is crossed twice per vCenter and
//! cycle: one snapshot read before planning, one commit after the sink acknowledged. The
//! collector runs in this process against the simulator and a real InfluxDB, on top of the
//! real single-node assignment wrapped in a counter.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::config::{self, Vc};
use common::influx::Influx;
use common::vcsim::{SimOptions, Simulator};
use vcollect::collect::assignment::{AssignmentError, BoxFuture};
use vcollect::collect::{Assignment, Collector, Snapshot, Standalone, WatermarkUpdate};

/// [`Standalone`], counting how often each side of the seam is used.
struct Counting {
    inner: Standalone,
    snapshots: AtomicUsize,
    commits: AtomicUsize,
    committed: AtomicUsize,
}

impl Assignment for Counting {
    fn snapshot(&self, vcenter: &str) -> Snapshot {
        self.snapshots.fetch_add(1, Ordering::SeqCst);
        self.inner.snapshot(vcenter)
    }

    fn commit<'a>(
        &'a self,
        vcenter: &'a str,
        updates: Vec<WatermarkUpdate>,
    ) -> BoxFuture<'a, Result<(), AssignmentError>> {
        self.commits.fetch_add(1, Ordering::SeqCst);
        self.committed.fetch_add(updates.len(), Ordering::SeqCst);
        self.inner.commit(vcenter, updates)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_cycle_reads_the_assignment_once_and_commits_once() {
    let sim = Simulator::start(SimOptions {
        vms: 8,
        ..SimOptions::default()
    });
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let dir = tempfile::tempdir().unwrap();
    let collect = "[collect]\nlookback = \"2m\"\ncluster_counters = [\"cpu.usagemhz.average\"]";
    let path = config::write(dir.path(), &[Vc::new("vc1", &sim)], &influx.url(), collect);
    let cfg = Arc::new(vcollect::config::Config::load(&path).unwrap());
    let sink = vcollect::daemon::open_sink(&cfg, None).unwrap();
    let counting = Arc::new(Counting {
        inner: Standalone::open(&dir.path().join("data")).unwrap(),
        snapshots: AtomicUsize::new(0),
        commits: AtomicUsize::new(0),
        committed: AtomicUsize::new(0),
    });
    let collector = Collector::new(cfg, sink, counting.clone());
    for cycle in 1..=3 {
        let summaries = collector.once().await;
        assert_eq!(summaries.len(), 1);
        let s = &summaries[0];
        assert!(s.errors.is_empty(), "cycle {cycle}: {:?}", s.errors);
        assert!(s.samples > 0 || cycle > 1, "the first cycle writes samples");
        assert_eq!(
            counting.snapshots.load(Ordering::SeqCst),
            cycle,
            "snapshots"
        );
        assert_eq!(counting.commits.load(Ordering::SeqCst), cycle, "commits");
    }
    // The first cycle committed a watermark for every bucket with an entity in it.
    assert!(counting.committed.load(Ordering::SeqCst) >= 8);
}
