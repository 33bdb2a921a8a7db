//! Snapshots over the wire in chunks: `Raft.StreamSnapshot` (a client stream of
//! [`pb::SnapshotChunk`]s), so that no single gRPC message has to hold the whole state.
//!
//! The first chunk carries the JSON envelope (the leader's vote and the snapshot's metadata);
//! every chunk carries up to [`CHUNK`] bytes of the snapshot data. The sender reads the data
//! chunk by chunk from the snapshot it already holds; the receiver appends the chunks and
//! refuses a stream whose data grows past [`MAX_SNAPSHOT`] (`RESOURCE_EXHAUSTED`), which bounds
//! what a peer can make it hold. The state is small (a few members, and per vCenter 1024
//! owners and a 1024-entry watermark array per entity kind: about 70 KiB per vCenter), so the
//! limit is thousands of vCenters away.
//!
//! A peer of release 0.1 has no `StreamSnapshot` and answers `UNIMPLEMENTED`; the sender then
//! falls back to the unary `InstallSnapshot` (the whole snapshot in one message, at most
//! [`super::rpc::MAX_MESSAGE`]), which every node still serves.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use tonic::Status;

use serde::{Deserialize, Serialize};

use super::rpc::pb;
use super::{SnapshotMeta, Vote};

/// A snapshot's JSON part (both RPCs): the leader's vote and the snapshot's metadata; the data
/// travels raw beside it.
#[derive(Serialize, Deserialize)]
pub(crate) struct SnapshotEnvelope {
    pub vote: Vote,
    pub meta: SnapshotMeta,
}

/// Snapshot data per chunk.
pub const CHUNK: usize = 1 << 20;
/// The largest snapshot a node accepts over the stream (the data, all chunks together).
pub const MAX_SNAPSHOT: usize = 1 << 30;

/// The chunks of one snapshot: the envelope (JSON) in the first, `chunk` bytes of `data` in
/// each (one chunk, with no data, for an empty snapshot). Each chunk is copied out of `data`
/// only when the transport asks for it.
pub(crate) fn chunks(
    envelope: Vec<u8>,
    data: Arc<Vec<u8>>,
    chunk: usize,
) -> impl Stream<Item = pb::SnapshotChunk> + Send + 'static {
    let chunk = chunk.max(1);
    let count = data.len().div_ceil(chunk).max(1);
    let mut envelope = Some(envelope);
    futures::stream::iter(0..count).map(move |i| {
        let start = (i * chunk).min(data.len());
        let end = (start + chunk).min(data.len());
        pb::SnapshotChunk {
            json: envelope.take().unwrap_or_default(),
            data: data[start..end].to_vec(),
        }
    })
}

/// A received snapshot: its envelope, its data, and how many chunks it came in.
pub(crate) struct Received {
    pub envelope: SnapshotEnvelope,
    pub data: Vec<u8>,
    pub chunks: usize,
}

/// Reads a whole snapshot stream: the envelope from the first chunk, the data appended,
/// at most `limit` bytes of it.
pub(crate) async fn assemble<S>(mut stream: S, limit: usize) -> Result<Received, Status>
where
    S: Stream<Item = Result<pb::SnapshotChunk, Status>> + Unpin,
{
    let first = stream
        .next()
        .await
        .ok_or_else(|| Status::invalid_argument("empty snapshot stream"))??;
    let envelope: SnapshotEnvelope = serde_json::from_slice(&first.json)
        .map_err(|e| Status::invalid_argument(format!("bad snapshot envelope: {e}")))?;
    let mut data = first.data;
    let mut chunks = 1;
    let too_big = |n: usize| {
        Status::resource_exhausted(format!(
            "snapshot larger than {limit} bytes ({n} received so far)"
        ))
    };
    if data.len() > limit {
        return Err(too_big(data.len()));
    }
    while let Some(c) = stream.next().await {
        let c = c?;
        if data.len() + c.data.len() > limit {
            return Err(too_big(data.len() + c.data.len()));
        }
        data.extend_from_slice(&c.data);
        chunks += 1;
    }
    Ok(Received {
        envelope,
        data,
        chunks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Vec<u8> {
        let env = SnapshotEnvelope {
            vote: openraft::Vote::new(3, 1),
            meta: Default::default(),
        };
        serde_json::to_vec(&env).unwrap()
    }

    async fn roundtrip(len: usize, chunk: usize, limit: usize) -> Result<Received, Status> {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let sent: Vec<pb::SnapshotChunk> =
            chunks(envelope(), Arc::new(data), chunk).collect().await;
        assert!(sent.iter().all(|c| c.data.len() <= chunk));
        assert!(sent.iter().skip(1).all(|c| c.json.is_empty()));
        assemble(futures::stream::iter(sent.into_iter().map(Ok)), limit).await
    }

    #[tokio::test]
    async fn a_snapshot_is_cut_into_chunks_and_put_together_again() {
        for (len, chunk, expected_chunks) in [(0, 4, 1), (3, 4, 1), (4, 4, 1), (10, 4, 3)] {
            let r = roundtrip(len, chunk, 1 << 20).await.unwrap();
            assert_eq!(r.chunks, expected_chunks, "{len} bytes by {chunk}");
            let want: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            assert_eq!(r.data, want);
        }
        // A snapshot of several real chunks.
        let r = roundtrip(3 * CHUNK + 5, CHUNK, MAX_SNAPSHOT).await.unwrap();
        assert_eq!((r.chunks, r.data.len()), (4, 3 * CHUNK + 5));
    }

    #[tokio::test]
    async fn a_stream_past_the_limit_or_without_envelope_is_refused() {
        let err = roundtrip(10, 4, 9).await.err().unwrap();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        assert!(roundtrip(10, 4, 10).await.is_ok());
        let empty = futures::stream::iter(Vec::<Result<pb::SnapshotChunk, Status>>::new());
        let err = assemble(empty, 10).await.err().unwrap();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        let bad = futures::stream::iter(vec![Ok(pb::SnapshotChunk::default())]);
        let err = assemble(bad, 10).await.err().unwrap();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }
}
