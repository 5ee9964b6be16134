//! Talking to a running node: [`NodeHandle`] sends requests to the node task (`service`) and
//! awaits its replies. Cheap to clone; the API server holds one.

use std::sync::Arc;

use ledger::storage::{StorageError, TxRecord};
use ledger::{Account, Address, Block, CommitCertificate, Hash, Validator};
use libp2p::PeerId;
use tokio::sync::{mpsc, oneshot, watch};

use crate::app::SubmitError;
use crate::commit_log::CommitInfo;
use crate::metrics::Metrics;
use crate::network::{self, PeerInfo};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub chain_id: String,
    /// This node's validator key, if it is one.
    pub validator: Option<ledger::PublicKey>,
    /// The height consensus works on.
    pub height: u64,
    /// The last block stored.
    pub committed_height: u64,
    pub round: u32,
    pub peers: usize,
    pub mempool: usize,
    /// Fetching blocks from a peer that is ahead.
    pub syncing: bool,
    /// Why this validator stopped taking part (fail-stop), if it did.
    pub halted: Option<String>,
}

/// What a [`NodeHandle`] asks of the node task (`service`), each with its reply channel.
pub(crate) enum Request {
    Submit {
        raws: Vec<Vec<u8>>,
        reply: oneshot::Sender<Vec<Result<Hash, SubmitError>>>,
    },
    Commits {
        from: u64,
        reply: oneshot::Sender<Vec<CommitInfo>>,
    },
    Status {
        reply: oneshot::Sender<Status>,
    },
    Account {
        address: Address,
        reply: oneshot::Sender<Account>,
    },
    Tx {
        hash: Hash,
        reply: oneshot::Sender<Result<TxStatus, StorageError>>,
    },
    Block {
        height: Option<u64>,
        reply: oneshot::Sender<Result<Option<(Block, CommitCertificate)>, StorageError>>,
    },
    Validators {
        reply: oneshot::Sender<Vec<Validator>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    SetBlocked {
        peer: PeerId,
        blocked: bool,
    },
}

/// Where a transaction is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxStatus {
    Pending,
    Committed(TxRecord),
    Unknown,
}

/// Talks to a running node.
#[derive(Clone)]
pub struct NodeHandle {
    pub(crate) requests: mpsc::Sender<Request>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) halted: watch::Receiver<Option<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Storage(#[from] ledger::storage::StorageError),
    #[error(transparent)]
    Network(#[from] network::NetworkError),
    #[error("genesis: {0}")]
    Genesis(String),
    #[error("the node has stopped")]
    Stopped,
}

impl NodeHandle {
    /// Send a request carrying its reply channel, and wait for the reply.
    async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, NodeError> {
        let (reply, rx) = oneshot::channel();
        self.requests
            .send(request(reply))
            .await
            .map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// A shared handle on the metrics, for tasks that outlive a borrow (the API server).
    pub fn metrics_handle(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Resolves with the reason once the validator halts (fail-stop); never, while it runs.
    pub async fn halted(&self) -> String {
        let mut rx = self.halted.clone();
        let reason = rx
            .wait_for(Option::is_some)
            .await
            .map(|reason| reason.clone().unwrap_or_default());
        match reason {
            Ok(reason) => reason,
            Err(_) => std::future::pending().await,
        }
    }

    pub async fn submit(&self, raw: Vec<u8>) -> Result<Result<Hash, SubmitError>, NodeError> {
        Ok(self
            .submit_batch(vec![raw])
            .await?
            .pop()
            .expect("one result per transaction"))
    }

    /// Admit many transactions at once (verified in parallel); one result per transaction.
    pub async fn submit_batch(
        &self,
        raws: Vec<Vec<u8>>,
    ) -> Result<Vec<Result<Hash, SubmitError>>, NodeError> {
        self.ask(|reply| Request::Submit { raws, reply }).await
    }

    /// Recent commits from `from` on, with this node's commit times (see `commit_log`).
    pub async fn commits(&self, from: u64) -> Result<Vec<CommitInfo>, NodeError> {
        self.ask(|reply| Request::Commits { from, reply }).await
    }

    pub async fn status(&self) -> Result<Status, NodeError> {
        self.ask(|reply| Request::Status { reply }).await
    }

    pub async fn account(&self, address: Address) -> Result<Account, NodeError> {
        self.ask(|reply| Request::Account { address, reply }).await
    }

    pub async fn tx(&self, hash: Hash) -> Result<TxStatus, NodeError> {
        Ok(self.ask(|reply| Request::Tx { hash, reply }).await??)
    }

    /// A committed block with its certificate; `None` height means the latest.
    pub async fn block(
        &self,
        height: Option<u64>,
    ) -> Result<Option<(Block, CommitCertificate)>, NodeError> {
        Ok(self.ask(|reply| Request::Block { height, reply }).await??)
    }

    pub async fn validators(&self) -> Result<Vec<Validator>, NodeError> {
        self.ask(|reply| Request::Validators { reply }).await
    }

    /// Connected peers with their gossip scores.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NodeError> {
        self.ask(|reply| Request::Peers { reply }).await
    }

    /// Disconnect a validator and refuse it until unblocked (see `network::Command::SetBlocked`).
    pub async fn set_peer_blocked(&self, peer: PeerId, blocked: bool) -> Result<(), NodeError> {
        self.requests
            .send(Request::SetBlocked { peer, blocked })
            .await
            .map_err(|_| NodeError::Stopped)
    }

    pub async fn balance(&self, address: Address) -> Result<u64, NodeError> {
        Ok(self.account(address).await?.balance)
    }
}
