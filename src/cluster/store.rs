//! openraft's log storage and state machine on sled 0.34.7.
//!
//! One `sled::Db` in `<data_dir>/raft` (sled allows one open instance per directory and
//! process), with these trees:
//!
//! | tree    | keys                                   | values (JSON)                        |
//! |---------|----------------------------------------|--------------------------------------|
//! | `logs`  | log index, u64 big-endian (sorts)      | `Entry`                              |
//! | `meta`  | `vote`, `committed`, `last_purged`     | `Vote`, `LogId`, `LogId`             |
//! | `sm`    | `applied`, `members`, `vc/<vcenter>`   | applied log id + membership, parts of [`ClusterState`] |
//! | `snap`  | `meta`, `data/<u32 BE chunk no>`       | `SnapshotMeta`, 64 KiB chunks         |
//! | `local` | `incarnation`, `node_id`, `bootstrap` | this node's identity, and the first members it bootstraps with (not replicated) |
//!
//! # Durability
//!
//! openraft requires the vote and appended log entries to be on disk before they are
//! acknowledged. sled's `flush()` writes its buffers but on Linux ends with
//! `sync_file_range`, which does not flush the drive's write cache (sled issues #1351, #1452),
//! and it never fsyncs the "blob" files it writes for values larger than a quarter segment.
//! So every vote save, append, truncation, purge and snapshot goes through [`Disk::sync`]:
//! `flush()`, then `fsync` of sled's `db` file, then of any blob file. Blobs are avoided in
//! the first place by a 4 MiB segment size (blob threshold 1 MiB: far above our values; log
//! entries are a few KiB, a vCenter's part of the state ~30 KiB, snapshot chunks 64 KiB).
//! The callback of `append` fires only after that sync.
//!
//! The state machine is *not* synced on apply: its data, applied log id and membership are
//! written together in one atomic sled batch, so after a crash it is at some consistent earlier
//! point, and openraft re-applies the committed log from there (`save_committed` is
//! implemented, so it knows how far to go). Apply is deterministic, so the replay is exact.
//!
//! # Snapshots
//!
//! Built from an `Arc` of the in-memory state taken between two applies: a consistent copy
//! without locking apply out (sled has no point-in-time read). Installing one replaces the
//! `sm` tree wholly (every old key removed, new ones written, in one atomic batch): keys the
//! leader no longer has (a dropped vCenter) do not survive on the follower.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::fs::File;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use openraft::storage::{
    EntryResponder, IOFlushed, LogState, RaftLogReader, RaftLogStorage, RaftSnapshotBuilder,
    RaftStateMachine, Snapshot,
};
use openraft::type_config::alias::SnapshotOf;
use openraft::{EntryPayload, OptionalSend};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::error::Error;
use super::state::{ClusterState, Members, NewNode, Response, Touched, VcenterShards};
use super::{Entry, LogId, SnapshotMeta, StoredMembership, TypeConfig, Vote};

/// sled segment size: values above a quarter of it become unsynced blob files (see above).
const SEGMENT_SIZE: usize = 4 << 20;
/// sled page cache. The default (1 GiB) is far more than a few MB of state need.
const CACHE_CAPACITY: u64 = 64 << 20;
const SNAPSHOT_CHUNK: usize = 64 << 10;

const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_LAST_PURGED: &[u8] = b"last_purged";
const KEY_APPLIED: &[u8] = b"applied";
const KEY_MEMBERS: &[u8] = b"members";
const VC_PREFIX: &[u8] = b"vc/";
const KEY_SNAP_META: &[u8] = b"meta";
const SNAP_DATA_PREFIX: &[u8] = b"data/";
const KEY_INCARNATION: &[u8] = b"incarnation";
const KEY_NODE_ID: &[u8] = b"node_id";
const KEY_BOOTSTRAP: &[u8] = b"bootstrap";

/// The sled database and its trees, shared by the log store and the state machine.
struct Disk {
    db: sled::Db,
    dir: PathBuf,
    /// A second descriptor on sled's main file, to fsync it.
    db_file: File,
    logs: sled::Tree,
    meta: sled::Tree,
    sm: sled::Tree,
    snap: sled::Tree,
    local: sled::Tree,
}

impl Disk {
    /// Makes everything written so far durable (see the module doc). Blocking.
    fn sync(&self) -> io::Result<()> {
        self.db.flush().map_err(io::Error::other)?;
        self.db_file.sync_all()?;
        let blobs = self.dir.join("blobs");
        let mut any = false;
        if let Ok(rd) = std::fs::read_dir(&blobs) {
            for e in rd.flatten() {
                // A blob may be garbage-collected by sled while we look: ignore NotFound.
                if let Ok(f) = File::open(e.path()) {
                    f.sync_all()?;
                    any = true;
                }
            }
        }
        if any {
            File::open(&blobs)?.sync_all()?;
        }
        Ok(())
    }

    /// [`Disk::sync`] off the async runtime's worker thread, awaited (so IO stays ordered).
    async fn sync_async(self: &Arc<Self>) -> io::Result<()> {
        let disk = self.clone();
        super::runtime::blocking(move || disk.sync())
            .await
            .map_err(io::Error::other)?
    }
}

fn sled_err(e: sled::Error) -> io::Error {
    io::Error::other(e)
}

fn encode<T: Serialize>(v: &T) -> io::Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn decode<T: DeserializeOwned>(tree: &'static str, key: &[u8], v: &[u8]) -> io::Result<T> {
    serde_json::from_slice(v).map_err(|source| {
        Error::Corrupt {
            tree,
            key: String::from_utf8_lossy(key).into_owned(),
            source,
        }
        .into()
    })
}

fn get<T: DeserializeOwned>(
    tree: &sled::Tree,
    name: &'static str,
    key: &[u8],
) -> io::Result<Option<T>> {
    match tree.get(key).map_err(sled_err)? {
        Some(v) => decode(name, key, &v).map(Some),
        None => Ok(None),
    }
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// Opens (creating if needed) the Raft store in `<data_dir>/raft`.
///
/// Returns the two halves openraft wants. The state machine has already loaded the persisted
/// state, so [`StateMachineStore::subscribe`] gives the last applied state right away.
pub fn open(data_dir: &Path) -> Result<(LogStore, StateMachineStore), Error> {
    let dir = data_dir.join("raft");
    std::fs::create_dir_all(&dir).map_err(|source| Error::CreateDir {
        path: dir.clone(),
        source,
    })?;
    let db = open_db(&dir)?;
    let db_file = File::open(dir.join("db"))?;
    let disk = Arc::new(Disk {
        logs: db.open_tree("logs")?,
        meta: db.open_tree("meta")?,
        sm: db.open_tree("sm")?,
        snap: db.open_tree("snap")?,
        local: db.open_tree("local")?,
        db,
        dir,
        db_file,
    });
    if disk.local.get(KEY_INCARNATION)?.is_none() {
        disk.local
            .insert(KEY_INCARNATION, &new_incarnation().to_be_bytes())?;
        disk.sync()?;
    }
    let sm = StateMachineStore::load(disk.clone())?;
    Ok((LogStore { disk }, sm))
}

/// How long [`open`] waits for the directory lock of a previous instance to go away.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens sled, waiting up to [`LOCK_WAIT`] while another instance still holds the directory's
/// lock. sled locks `<dir>/db` for one `Db` per process; after `Raft::shutdown()` openraft's
/// tasks drop their store handles asynchronously, and a previous process may still be exiting,
/// so an immediate reopen can find the lock taken for a short while.
fn open_db(dir: &Path) -> Result<sled::Db, Error> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        let res = sled::Config::new()
            .path(dir)
            .segment_size(SEGMENT_SIZE)
            .cache_capacity(CACHE_CAPACITY)
            .mode(sled::Mode::LowSpace)
            .open();
        match res {
            Ok(db) => return Ok(db),
            // sled reports the lock as an untyped io error; its message is all there is.
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(source) => {
                return Err(Error::Open {
                    path: dir.to_owned(),
                    source,
                })
            }
        }
    }
}

/// A random, non-zero u64: from the operating system's randomness, or in the simulation
/// from the schedule's seed (see `runtime`), so that a replayed schedule is the same.
fn new_incarnation() -> u64 {
    super::runtime::random_u64().max(1)
}

/// The Raft log, the vote and this node's identity. Cheap to clone (it is also its own
/// log reader).
#[derive(Clone)]
pub struct LogStore {
    disk: Arc<Disk>,
}

impl LogStore {
    /// A random value created with the data directory: identifies this node's incarnation in
    /// [`Command::RegisterNode`](super::state::Command::RegisterNode).
    pub fn incarnation(&self) -> Result<u64, Error> {
        let v =
            self.disk.local.get(KEY_INCARNATION)?.ok_or_else(|| {
                Error::Io(io::Error::new(io::ErrorKind::NotFound, "no incarnation"))
            })?;
        Ok(u64::from_be_bytes(v.as_ref().try_into().map_err(|_| {
            Error::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad incarnation",
            ))
        })?))
    }

    /// This node's id, once it has one (bootstrap or registration).
    pub fn node_id(&self) -> Result<Option<u64>, Error> {
        Ok(match self.disk.local.get(KEY_NODE_ID)? {
            Some(v) => Some(u64::from_be_bytes(v.as_ref().try_into().map_err(|_| {
                Error::Io(io::Error::new(io::ErrorKind::InvalidData, "bad node id"))
            })?)),
            None => None,
        })
    }

    /// Persists (durably) this node's id.
    pub fn save_node_id(&self, id: u64) -> Result<(), Error> {
        self.disk.local.insert(KEY_NODE_ID, &id.to_be_bytes())?;
        self.disk.sync()?;
        Ok(())
    }

    /// Persists (durably, in one atomic batch) this node's id and the first members of the
    /// cluster it forms, so that a node that crashes anywhere between this and the applied
    /// `Bootstrap` can carry on after a restart (`initialize()` again, propose `Bootstrap`
    /// again): the id alone would leave a cluster that never forms if every bootstrap node
    /// crashed before `initialize()`.
    pub fn save_bootstrap(&self, id: u64, nodes: &[NewNode]) -> Result<(), Error> {
        let mut batch = sled::Batch::default();
        batch.insert(KEY_NODE_ID, &id.to_be_bytes());
        batch.insert(KEY_BOOTSTRAP, encode(&nodes)?);
        self.disk.local.apply_batch(batch)?;
        self.disk.sync()?;
        Ok(())
    }

    /// The first members saved by [`LogStore::save_bootstrap`] (None: this node joined, or
    /// bootstrapped with a release that did not save them).
    pub fn bootstrap_members(&self) -> Result<Option<Vec<NewNode>>, Error> {
        Ok(get(&self.disk.local, "local", KEY_BOOTSTRAP)?)
    }

    /// Flushes and closes nothing else: sled closes when the last handle is dropped. Call
    /// this on shutdown to make sure even non-synced writes (the state machine) are on disk.
    pub fn close(&self) -> Result<(), Error> {
        self.disk.sync()?;
        Ok(())
    }

    fn last_purged(&self) -> io::Result<Option<LogId>> {
        get(&self.disk.meta, "meta", KEY_LAST_PURGED)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let start = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&i) => Bound::Included(index_key(i)),
            Bound::Excluded(&i) => Bound::Excluded(index_key(i)),
            Bound::Unbounded => Bound::Unbounded,
        };
        self.disk
            .logs
            .range((Bound::Included(index_key(start)), end))
            .map(|kv| {
                let (k, v) = kv.map_err(sled_err)?;
                decode("logs", &k, &v)
            })
            .collect()
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        get(&self.disk.meta, "meta", KEY_VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged = self.last_purged()?;
        let last = match self.disk.logs.last().map_err(sled_err)? {
            Some((k, v)) => Some(decode::<Entry>("logs", &k, &v)?.log_id),
            None => None,
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last.or(last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        self.disk
            .meta
            .insert(KEY_VOTE, encode(vote)?)
            .map_err(sled_err)?;
        self.disk.sync_async().await
    }

    /// Not synced: losing it only means openraft re-applies less on restart.
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        match committed {
            Some(c) => self.disk.meta.insert(KEY_COMMITTED, encode(&c)?),
            None => self.disk.meta.remove(KEY_COMMITTED),
        }
        .map_err(sled_err)?;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        get(&self.disk.meta, "meta", KEY_COMMITTED)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = sled::Batch::default();
        for e in entries {
            batch.insert(&index_key(e.log_id.index), encode(&e)?);
        }
        let res = match self.disk.logs.apply_batch(batch) {
            Ok(()) => self.disk.sync_async().await,
            Err(e) => Err(sled_err(e)),
        };
        // Report the outcome to openraft only now that the entries are durable.
        let ret = res
            .as_ref()
            .map(|_| ())
            .map_err(|e| io::Error::new(e.kind(), e.to_string()));
        callback.io_completed(res);
        ret
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map(|l| l.index + 1).unwrap_or(0);
        let mut batch = sled::Batch::default();
        for k in self.disk.logs.range(index_key(from)..).keys() {
            batch.remove(k.map_err(sled_err)?);
        }
        self.disk.logs.apply_batch(batch).map_err(sled_err)?;
        self.disk.sync_async().await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        // last_purged first: a crash in between leaves entries that are also "purged", never
        // a hole below an unrecorded purge point.
        self.disk
            .meta
            .insert(KEY_LAST_PURGED, encode(&log_id)?)
            .map_err(sled_err)?;
        let mut batch = sled::Batch::default();
        for k in self.disk.logs.range(..=index_key(log_id.index)).keys() {
            batch.remove(k.map_err(sled_err)?);
        }
        self.disk.logs.apply_batch(batch).map_err(sled_err)?;
        self.disk.sync_async().await
    }
}

/// What the `applied` key holds: written in the same batch as the data it describes.
#[derive(Serialize, Deserialize, Default)]
struct Applied {
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
}

/// The replicated state machine. openraft owns it once handed to `Raft::new`; the rest of the
/// node reads the state through [`StateMachineStore::subscribe`].
pub struct StateMachineStore {
    disk: Arc<Disk>,
    applied: Applied,
    /// Shared with the watch channel and with snapshot builders; replaced (copy-on-write)
    /// by each apply batch.
    state: Arc<ClusterState>,
    tx: watch::Sender<Arc<ClusterState>>,
}

impl StateMachineStore {
    fn load(disk: Arc<Disk>) -> Result<Self, Error> {
        let applied: Applied = get(&disk.sm, "sm", KEY_APPLIED)?.unwrap_or_default();
        let state = load_state(&disk.sm)?;
        let state = Arc::new(state);
        let (tx, _) = watch::channel(state.clone());
        Ok(StateMachineStore {
            disk,
            applied,
            state,
            tx,
        })
    }

    /// The current state and every future one, for the collector and the controller. Cheap:
    /// each value is an `Arc` of an immutable state; a reader never blocks apply. Take it before
    /// the state machine is handed to openraft.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ClusterState>> {
        self.tx.subscribe()
    }

    /// The state as of the last applied entry.
    pub fn current(&self) -> Arc<ClusterState> {
        self.state.clone()
    }

    /// The last applied log id.
    pub fn last_applied(&self) -> Option<LogId> {
        self.applied.last_applied
    }

    fn publish(&mut self) {
        self.tx.send_replace(self.state.clone());
    }
}

fn load_state(sm: &sled::Tree) -> io::Result<ClusterState> {
    let members: Members = get(sm, "sm", KEY_MEMBERS)?.unwrap_or_default();
    let mut state = ClusterState {
        members,
        ..Default::default()
    };
    for kv in sm.scan_prefix(VC_PREFIX) {
        let (k, v) = kv.map_err(sled_err)?;
        let name = String::from_utf8_lossy(&k[VC_PREFIX.len()..]).into_owned();
        let shards: VcenterShards = decode("sm", &k, &v)?;
        state.vcenters.insert(name, shards);
    }
    Ok(state)
}

fn vc_key(name: &str) -> Vec<u8> {
    let mut k = VC_PREFIX.to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

type Ops = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// The writes that store the parts of `state` in `touched` plus `applied`.
fn state_ops(state: &ClusterState, applied: &Applied, touched: &Touched) -> io::Result<Ops> {
    let mut ops = Vec::new();
    if touched.members {
        ops.push((KEY_MEMBERS.to_vec(), Some(encode(&state.members)?)));
    }
    for name in &touched.vcenters {
        let v = state.vcenters.get(name).map(encode).transpose()?;
        ops.push((vc_key(name), v));
    }
    ops.push((KEY_APPLIED.to_vec(), Some(encode(applied)?)));
    Ok(ops)
}

fn to_batch(ops: Ops) -> sled::Batch {
    let mut batch = sled::Batch::default();
    for (k, v) in ops {
        match v {
            Some(v) => batch.insert(k, v),
            None => batch.remove(k),
        }
    }
    batch
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        Ok((
            self.applied.last_applied,
            self.applied.last_membership.clone(),
        ))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: futures::Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>>
            + Unpin
            + OptionalSend,
    {
        let mut touched = Touched::default();
        let mut replies = Vec::new();
        while let Some((entry, responder)) = entries.try_next().await? {
            let response = match &entry.payload {
                EntryPayload::Blank => Response::None,
                EntryPayload::Normal(cmd) => {
                    Arc::make_mut(&mut self.state).apply(cmd, &mut touched)
                }
                EntryPayload::Membership(m) => {
                    let voters: BTreeSet<u64> = m.voter_ids().collect();
                    let learners: BTreeSet<u64> = m.learner_ids().collect();
                    Arc::make_mut(&mut self.state).set_raft_membership(
                        voters,
                        learners,
                        &mut touched,
                    );
                    self.applied.last_membership =
                        StoredMembership::new(Some(entry.log_id), m.clone());
                    Response::None
                }
            };
            self.applied.last_applied = Some(entry.log_id);
            if let Some(r) = responder {
                replies.push((r, response));
            }
        }
        if self.applied.last_applied.is_none() {
            return Ok(());
        }
        // Data, applied id and membership in one atomic batch (see the module doc on why no
        // sync here).
        let batch = to_batch(state_ops(&self.state, &self.applied, &touched)?);
        self.disk.sm.apply_batch(batch).map_err(sled_err)?;
        if touched.members || !touched.vcenters.is_empty() {
            self.publish();
        }
        for (r, response) in replies {
            r.send(response);
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            disk: self.disk.clone(),
            state: self.state.clone(),
            last_applied: self.applied.last_applied,
            last_membership: self.applied.last_membership.clone(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Vec<u8>,
    ) -> Result<(), io::Error> {
        let state: ClusterState = decode("snapshot", b"data", &snapshot)?;
        let applied = Applied {
            last_applied: meta.last_log_id,
            last_membership: meta.last_membership.clone(),
        };
        // Replace the state machine wholly: remove every key, write the new ones, atomically.
        let all = Touched {
            members: true,
            vcenters: state.vcenters.keys().cloned().collect(),
        };
        let mut ops: Ops = Vec::new();
        for k in self.disk.sm.iter().keys() {
            ops.push((k.map_err(sled_err)?.to_vec(), None));
        }
        // Later operations on the same key win, so the inserts override the removes.
        ops.extend(state_ops(&state, &applied, &all)?);
        self.disk.sm.apply_batch(to_batch(ops)).map_err(sled_err)?;
        save_snapshot(&self.disk, meta, &snapshot)?;
        self.disk.sync_async().await?;
        self.applied = applied;
        self.state = Arc::new(state);
        self.publish();
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<TypeConfig, Vec<u8>>>, io::Error> {
        load_snapshot(&self.disk)
    }
}

/// Writes the snapshot (meta and data chunks) in one atomic batch, replacing the previous one.
fn save_snapshot(disk: &Disk, meta: &SnapshotMeta, data: &[u8]) -> io::Result<()> {
    let mut batch = sled::Batch::default();
    for k in disk.snap.iter().keys() {
        batch.remove(k.map_err(sled_err)?);
    }
    for (i, chunk) in data.chunks(SNAPSHOT_CHUNK).enumerate() {
        let mut k = SNAP_DATA_PREFIX.to_vec();
        k.extend_from_slice(&(i as u32).to_be_bytes());
        batch.insert(k, chunk);
    }
    batch.insert(KEY_SNAP_META, encode(meta)?);
    disk.snap.apply_batch(batch).map_err(sled_err)
}

fn load_snapshot(disk: &Disk) -> io::Result<Option<SnapshotOf<TypeConfig, Vec<u8>>>> {
    let Some(meta) = get::<SnapshotMeta>(&disk.snap, "snap", KEY_SNAP_META)? else {
        return Ok(None);
    };
    let mut data = Vec::new();
    for kv in disk.snap.scan_prefix(SNAP_DATA_PREFIX) {
        let (_, v) = kv.map_err(sled_err)?;
        data.extend_from_slice(&v);
    }
    Ok(Some(Snapshot {
        meta,
        snapshot: data,
    }))
}

/// Builds a snapshot from the state as it was when the builder was made.
pub struct SnapshotBuilder {
    disk: Arc<Disk>,
    state: Arc<ClusterState>,
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = Vec<u8>;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<TypeConfig, Vec<u8>>, io::Error> {
        let data = encode(&*self.state)?;
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.last_membership.clone(),
        };
        save_snapshot(&self.disk, &meta, &data)?;
        self.disk.sync_async().await?;
        Ok(Snapshot {
            meta,
            snapshot: data,
        })
    }
}
