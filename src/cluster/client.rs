//! The admin CLI's side of the cluster's gRPC services: one [`Client`] per node address, and
//! typed replies, so `vcollect drain`, `leave`, `remove` ... read fields, not protobuf.
//! The node asked forwards a write to the leader (see [`super::admin`]).

use std::time::Duration;

use super::admin::{Buckets, FORWARD_TIMEOUT};
use super::operation::AdminOp;
use super::rpc::{self, ClientOptions};
use super::{convert, Error, NodeId, StatusReport};

/// A client of one node's admin and status services.
pub struct Client<'a> {
    addr: &'a str,
    opts: &'a ClientOptions,
}

/// What an admin operation did.
#[derive(Debug, Clone)]
pub struct AdminReply {
    /// The leader's one-line account, printed as it is.
    pub message: String,
    /// The node the operation was about, where it names one.
    pub node_id: Option<NodeId>,
    /// A drain's moved buckets (what a later wait watches); `None` for other operations or
    /// a node of release 0.1, which does not send them.
    pub drained: Option<Buckets>,
}

/// The end of a wait for a drain.
#[derive(Debug, Clone)]
pub struct Waited {
    pub message: String,
    pub waited: Duration,
}

impl<'a> Client<'a> {
    pub fn new(addr: &'a str, opts: &'a ClientOptions) -> Client<'a> {
        Client { addr, opts }
    }

    /// Sends `op` to the node (which forwards it to the leader).
    pub async fn admin(&self, op: &AdminOp) -> Result<AdminReply, Error> {
        let mut client = self.opts.cluster_client(self.opts.channel(self.addr)?);
        let req = convert::admin_request(op, 0)?;
        let timeout = self
            .opts
            .timeout
            .max(FORWARD_TIMEOUT + Duration::from_secs(2));
        let reply = rpc::call(
            self.addr,
            timeout,
            req,
            |r| async move { client.admin(r).await },
        )
        .await?;
        // An unreadable bucket list only costs the wait its precision: it then watches
        // every bucket the node held.
        let drained = convert::drained(&reply).ok().flatten();
        Ok(AdminReply {
            message: reply.message,
            node_id: reply.node_id,
            drained,
        })
    }

    /// Waits until `node` is drained: the new owners of `buckets` (or of every bucket it
    /// held) collected past its last window, at most `timeout`.
    pub async fn wait_drained(
        &self,
        node: &str,
        buckets: Option<&Buckets>,
        timeout: Duration,
    ) -> Result<Waited, Error> {
        let mut client = self.opts.cluster_client(self.opts.channel(self.addr)?);
        let req = convert::wait_drained_request(node, millis(timeout), buckets);
        let reply = rpc::call(
            self.addr,
            timeout + Duration::from_secs(5),
            req,
            |r| async move { client.wait_drained(r).await },
        )
        .await?;
        Ok(Waited {
            message: reply.message,
            waited: Duration::from_millis(reply.waited_ms),
        })
    }

    /// `vcollect leave`: the node asked hands the leadership on if it leads, drains, waits
    /// (at most `wait_timeout`) until the new owners of its buckets collected past its last
    /// window, and removes itself. Each step's account goes to `step` once it is done, so
    /// that a failure later still shows what was done. Returns the node's id;
    /// [`Error::NotReady`] if it has not joined a cluster.
    pub async fn leave(
        &self,
        wait_timeout: Duration,
        mut step: impl FnMut(String),
    ) -> Result<NodeId, Error> {
        let report = self.status(true).await?;
        let me = report.node_id;
        if me == 0 {
            return Err(Error::NotReady);
        }
        if report.leader_id == Some(me) {
            let op = AdminOp::TransferLeader { to: None };
            step(self.admin(&op).await?.message);
        }
        let id = me.to_string();
        let drained = self.admin(&AdminOp::Drain { node: id.clone() }).await?;
        step(drained.message);
        let waited = self
            .wait_drained(&id, drained.drained.as_ref(), wait_timeout)
            .await?;
        step(waited.message);
        let op = AdminOp::Remove {
            node: id,
            force: false,
        };
        step(self.admin(&op).await?.message);
        Ok(me)
    }

    /// The node's status: the whole cluster's as the leader sees it, or with `local` only
    /// the node's own view.
    pub async fn status(&self, local: bool) -> Result<StatusReport, Error> {
        super::status_ext(self.addr, self.opts, local).await
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
