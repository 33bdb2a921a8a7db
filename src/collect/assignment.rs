//! The seam between the data plane and the control plane: which entities this node
//! collects, and from which timestamp.
//!
//! The inventory of each vCenter is cut into [`BUCKETS`] buckets by a stable hash of the
//! vCenter name and the entity's moref. A bucket has one owner and, per entity kind, a
//! watermark: the timestamp up to which its samples are known to be in the sink. A node
//! collects the entities of the buckets it owns, from the watermark to now, and commits the
//! new watermarks once the sink has acknowledged a window.
//!
//! [`Standalone`] is the single-node implementation: it owns every bucket and keeps the
//! watermarks in a file under the data directory, so a restart resumes where it stopped.
//! The cluster implements the same trait on top of its replicated state.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Mutex;

use crate::contract::EntityKind;

pub use crate::contract::{bucket_of, EventPosition, WatermarkUpdate, BUCKETS};

#[derive(Debug, thiserror::Error)]
pub enum AssignmentError {
    #[error("cannot save watermarks to {path}: {source}")]
    Save {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot commit watermarks: {0}")]
    Commit(String),
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the collector asks the control plane.
pub trait Assignment: Send + Sync {
    /// False when this node must not collect at all (e.g. it lost the cluster).
    fn collecting(&self) -> bool {
        true
    }

    /// Whether a batch in the local on-disk spool counts as delivered for watermarks. True
    /// for a single node (its spool is replayed when it restarts); false in a cluster, where
    /// another node takes over from the watermark if this one never comes back.
    fn spool_is_durable(&self) -> bool {
        true
    }

    /// Whether the cycle's samples go to the configured sink, so that they may move
    /// watermarks. False for a peek (`vcollect once --output -`): what it printed never
    /// reached InfluxDB, so the next run must collect it again.
    fn records_progress(&self) -> bool {
        true
    }

    /// Which buckets of `vcenter` this node collects and their committed watermarks, read
    /// once: a cycle plans from one snapshot and does not ask again (the replica may move
    /// meanwhile; the next cycle sees it).
    fn snapshot(&self, vcenter: &str) -> Snapshot;

    /// Commits new watermarks (one call per vCenter and cycle). Watermarks only move forward.
    fn commit<'a>(
        &'a self,
        vcenter: &'a str,
        updates: Vec<WatermarkUpdate>,
    ) -> BoxFuture<'a, Result<(), AssignmentError>>;

    /// This node's share of `total`, the performance calls all nodes together may have in
    /// flight at `vcenter` (`max_concurrent_queries`). A single node has it all.
    fn query_share(&self, _vcenter: &str, total: usize) -> usize {
        total
    }

    /// Hears what each cycle did (the cluster shows it in `vcollect status`).
    fn report(&self, _summary: &super::summary::CycleSummary) {}

    /// The committed position of `vcenter`'s event stream, if any was ever committed.
    fn event_position(&self, _vcenter: &str) -> Option<EventPosition> {
        None
    }

    /// Commits how far `vcenter`'s event stream is in the sink (see [`EventPosition`]); a
    /// position behind the committed one is ignored.
    fn commit_events<'a>(
        &'a self,
        _vcenter: &'a str,
        _position: EventPosition,
    ) -> BoxFuture<'a, Result<(), AssignmentError>> {
        Box::pin(async { Ok(()) })
    }
}

/// One vCenter's buckets as the assignment saw them at one moment: which this node owns and
/// the committed watermarks. A plain value, so the cycle's planning is a pure function of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Per bucket: owned by this node.
    owned: Vec<bool>,
    /// Per kind and bucket (`kind * BUCKETS + bucket`): the committed watermark.
    marks: Vec<Option<i64>>,
}

impl Default for Snapshot {
    /// Owns nothing, knows no watermark.
    fn default() -> Self {
        Snapshot {
            owned: vec![false; BUCKETS as usize],
            // Every stored kind, vSAN's included (its index is past the perf kinds').
            marks: vec![None; EntityKind::STORED.len() * BUCKETS as usize],
        }
    }
}

impl Snapshot {
    /// Every bucket owned (a single node), no watermark yet.
    pub fn owning_all() -> Snapshot {
        Snapshot {
            owned: vec![true; BUCKETS as usize],
            ..Snapshot::default()
        }
    }

    /// Marks `bucket` as this node's (ignored beyond [`BUCKETS`]).
    pub fn own(&mut self, bucket: u32) {
        if let Some(o) = self.owned.get_mut(bucket as usize) {
            *o = true;
        }
    }

    /// Records a committed watermark (ignored beyond [`BUCKETS`]).
    pub fn set_watermark(&mut self, kind: EntityKind, bucket: u32, ts: i64) {
        if bucket < BUCKETS {
            let i = kind.index() * BUCKETS as usize + bucket as usize;
            if let Some(m) = self.marks.get_mut(i) {
                *m = Some(ts);
            }
        }
    }

    /// Whether this node collects the entities of `bucket`.
    pub fn owns(&self, bucket: u32) -> bool {
        self.owned.get(bucket as usize).copied().unwrap_or(false)
    }

    /// The committed watermark of a bucket, if anything was ever committed.
    pub fn watermark(&self, kind: EntityKind, bucket: u32) -> Option<i64> {
        if bucket >= BUCKETS {
            return None;
        }
        let i = kind.index() * BUCKETS as usize + bucket as usize;
        self.marks.get(i).copied().flatten()
    }
}

/// Reads the watermarks of another assignment and never moves them: for runs whose samples
/// do not go to the configured sink.
pub struct Peek(pub std::sync::Arc<dyn Assignment>);

impl Assignment for Peek {
    fn collecting(&self) -> bool {
        self.0.collecting()
    }

    fn spool_is_durable(&self) -> bool {
        self.0.spool_is_durable()
    }

    fn records_progress(&self) -> bool {
        false
    }

    fn snapshot(&self, vcenter: &str) -> Snapshot {
        self.0.snapshot(vcenter)
    }

    fn commit<'a>(
        &'a self,
        _vcenter: &'a str,
        _updates: Vec<WatermarkUpdate>,
    ) -> BoxFuture<'a, Result<(), AssignmentError>> {
        Box::pin(async { Ok(()) })
    }

    fn query_share(&self, vcenter: &str, total: usize) -> usize {
        self.0.query_share(vcenter, total)
    }

    fn report(&self, summary: &super::summary::CycleSummary) {
        self.0.report(summary)
    }

    fn event_position(&self, vcenter: &str) -> Option<EventPosition> {
        self.0.event_position(vcenter)
    }
}

type Marks = BTreeMap<String, BTreeMap<EntityKind, BTreeMap<u32, i64>>>;

/// A single node that owns everything; watermarks in `<data_dir>/watermarks.json`, event
/// stream positions in `<data_dir>/events.json` (a file of its own, so a release that does
/// not know event positions still reads the watermark file).
pub struct Standalone {
    path: PathBuf,
    marks: Mutex<Marks>,
    events_path: PathBuf,
    events: Mutex<BTreeMap<String, EventPosition>>,
    last: super::last_cycle::LastCycles,
}

impl Standalone {
    /// Opens (or starts) the watermark and event position files under `data_dir`. A file
    /// that cannot be parsed is moved aside with a warning: the collector then starts from
    /// `lookback`, which rewrites some samples and events but loses none that vCenter still
    /// has.
    pub fn open(data_dir: &Path) -> Result<Standalone, AssignmentError> {
        let path = data_dir.join("watermarks.json");
        let events_path = data_dir.join("events.json");
        Ok(Standalone {
            marks: Mutex::new(read_json(&path)?),
            events: Mutex::new(read_json(&events_path)?),
            path,
            events_path,
            last: super::last_cycle::LastCycles::new(data_dir),
        })
    }
}

/// The content of a JSON file under the data directory; empty when there is none, or when
/// it cannot be parsed (then it is moved aside as `*.json.bad`).
fn read_json<T: serde::de::DeserializeOwned + Default>(path: &Path) -> Result<T, AssignmentError> {
    match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice::<T>(&bytes) {
            Ok(m) => Ok(m),
            Err(e) => {
                let aside = path.with_extension("json.bad");
                tracing::warn!(file = %path.display(), error = %e, aside = %aside.display(),
                    "progress file is unreadable; moving it aside and starting from lookback");
                let _ = std::fs::rename(path, &aside);
                Ok(T::default())
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(source) => Err(AssignmentError::Save {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl Standalone {
    /// The committed watermark of a bucket, if anything was ever committed.
    pub fn watermark(&self, vcenter: &str, kind: EntityKind, bucket: u32) -> Option<i64> {
        let marks = self.marks.lock().unwrap_or_else(|p| p.into_inner());
        marks.get(vcenter)?.get(&kind)?.get(&bucket).copied()
    }
}

/// Replaces `path` with `value` as JSON, durably (a temporary file, fsync, rename).
fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), AssignmentError> {
    let err = |source| AssignmentError::Save {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec(value).map_err(|e| err(std::io::Error::other(e)))?;
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(&body).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    Ok(())
}

impl Assignment for Standalone {
    /// Every bucket, with the watermarks of the file.
    fn snapshot(&self, vcenter: &str) -> Snapshot {
        let mut s = Snapshot::owning_all();
        let marks = self.marks.lock().unwrap_or_else(|p| p.into_inner());
        for (kind, buckets) in marks.get(vcenter).into_iter().flatten() {
            for (bucket, ts) in buckets {
                s.set_watermark(*kind, *bucket, *ts);
            }
        }
        s
    }

    fn report(&self, summary: &super::summary::CycleSummary) {
        self.last.record(summary);
    }

    fn commit<'a>(
        &'a self,
        vcenter: &'a str,
        updates: Vec<WatermarkUpdate>,
    ) -> BoxFuture<'a, Result<(), AssignmentError>> {
        Box::pin(async move {
            if updates.is_empty() {
                return Ok(());
            }
            let snapshot = {
                let mut marks = self.marks.lock().unwrap_or_else(|p| p.into_inner());
                let vc = marks.entry(vcenter.to_string()).or_default();
                for u in updates {
                    let slot = vc
                        .entry(u.kind)
                        .or_default()
                        .entry(u.bucket)
                        .or_insert(u.ts);
                    *slot = (*slot).max(u.ts);
                }
                marks.clone()
            };
            tokio::task::block_in_place(|| write_json(&self.path, &snapshot))
        })
    }

    fn event_position(&self, vcenter: &str) -> Option<EventPosition> {
        let events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        events.get(vcenter).copied()
    }

    fn commit_events<'a>(
        &'a self,
        vcenter: &'a str,
        position: EventPosition,
    ) -> BoxFuture<'a, Result<(), AssignmentError>> {
        Box::pin(async move {
            let snapshot = {
                let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
                match events.get(vcenter) {
                    Some(old) if !position.advances(old) => return Ok(()),
                    _ => {}
                }
                events.insert(vcenter.to_string(), position);
                events.clone()
            };
            tokio::task::block_in_place(|| write_json(&self.events_path, &snapshot))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn standalone_watermarks_move_forward_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let s = Standalone::open(dir.path()).unwrap();
        assert_eq!(s.watermark("vc1", EntityKind::Vm, 3), None);
        let up = |ts| WatermarkUpdate {
            kind: EntityKind::Vm,
            bucket: 3,
            ts,
        };
        s.commit("vc1", vec![up(100)]).await.unwrap();
        s.commit("vc1", vec![up(80)]).await.unwrap();
        assert_eq!(s.watermark("vc1", EntityKind::Vm, 3), Some(100));
        drop(s);
        let again = Standalone::open(dir.path()).unwrap();
        assert_eq!(again.watermark("vc1", EntityKind::Vm, 3), Some(100));
        assert_eq!(again.watermark("vc1", EntityKind::Host, 3), None);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn standalone_event_positions_move_on_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let s = Standalone::open(dir.path()).unwrap();
        assert_eq!(s.event_position("vc1"), None);
        let at = |key, time| EventPosition { key, time };
        s.commit_events("vc1", at(42, 1000)).await.unwrap();
        s.commit_events("vc1", at(40, 990)).await.unwrap();
        assert_eq!(s.event_position("vc1"), Some(at(42, 1000)));
        drop(s);
        let again = Standalone::open(dir.path()).unwrap();
        assert_eq!(again.event_position("vc1"), Some(at(42, 1000)));
        assert_eq!(again.event_position("vc2"), None);
        // The watermark file is untouched by event positions: an older release reads it.
        assert!(!dir.path().join("watermarks.json").exists());
    }

    #[test]
    fn a_corrupt_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("watermarks.json"), b"{not json").unwrap();
        let s = Standalone::open(dir.path()).unwrap();
        assert_eq!(s.watermark("vc1", EntityKind::Vm, 0), None);
        assert!(dir.path().join("watermarks.json.bad").exists());
    }

    #[test]
    fn a_snapshot_holds_vsan_watermarks_too() {
        let mut s = Snapshot::owning_all();
        s.set_watermark(EntityKind::Vsan, 7, 600);
        assert_eq!(s.watermark(EntityKind::Vsan, 7), Some(600));
        assert_eq!(s.watermark(EntityKind::Vm, 7), None);
    }
}
