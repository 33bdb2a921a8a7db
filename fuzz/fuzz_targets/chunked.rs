//! Shared by the QueryPerf targets: the input is `[n][n × u16 chunk sizes][document]`, and
//! the document is fed to the streaming reader in reads of those sizes, in turn.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use vcollect::vsphere::{EntityMetrics, PerfParseError, PerfReader};

/// A reader that hands out `data` in reads of the given sizes.
pub struct Chunked<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    next: usize,
}

impl AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let want = self.sizes[self.next % self.sizes.len()];
        self.next += 1;
        let n = want.min(buf.remaining()).min(self.data.len());
        let (head, tail) = self.data.split_at(n);
        buf.put_slice(head);
        self.data = tail;
        Poll::Ready(Ok(()))
    }
}

/// Splits the input into the chunk sizes and the document.
pub fn split(data: &[u8]) -> (Vec<usize>, &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return (vec![1], data);
    };
    let n = usize::from(n % 16);
    let take = (2 * n).min(rest.len());
    let sizes: Vec<usize> = rest[..take]
        .chunks(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]) % 2048) + 1)
        .collect();
    let sizes = if sizes.is_empty() { vec![1] } else { sizes };
    (sizes, &rest[take..])
}

/// Everything the streaming reader hands out: the entities, then the error (if any) and
/// the bytes it counted.
pub fn stream(doc: &[u8], sizes: Vec<usize>) -> (Vec<EntityMetrics>, Option<PerfParseError>, u64) {
    let mut r = PerfReader::new(Chunked {
        data: doc,
        sizes,
        next: 0,
    });
    let mut out = Vec::new();
    let err = futures::executor::block_on(async {
        loop {
            match r.next().await {
                Ok(Some(e)) => out.push(e),
                Ok(None) => return None,
                Err(e) => return Some(e),
            }
        }
    });
    (out, err, r.bytes())
}
