//! Talking to a running node. Writes (submissions, peer blocking) go to the node task
//! (`service`) and wait for its reply; reads go to the read side ([`Reads`]: the store, the
//! status and the commit log), so they never queue behind consensus. Cheap to clone; the API
//! server holds one.

use std::sync::Arc;
use std::time::Duration;

use interface::http::AccountView;
use ledger::storage::TxRecord;
use ledger::{Account, Address, Block, CommitCertificate, Hash, Validator};
use libp2p::PeerId;
use tokio::sync::{mpsc, oneshot};

use crate::commit_log::CommitInfo;
use crate::metrics::Metrics;
use crate::network::{self, PeerInfo};
use crate::reads::Reads;
use crate::refusal::Refusal;

/// What `/v1/status` shows: the same type the API serves.
pub use interface::http::NodeStatus as Status;

/// What a [`NodeHandle`] asks of the node task (`service`), each with its reply channel.
pub(crate) enum Request {
    /// Transactions decoded and verified off the node task (`verified[i]` is `raws[i]`'s).
    Submit {
        raws: Vec<Vec<u8>>,
        verified: Vec<Result<ledger::verify::Admitted, ledger::TxError>>,
        reply: oneshot::Sender<Vec<Result<Hash, Refusal>>>,
    },
    /// Whether a transaction waits in the mempool (one of the two reads that need the node
    /// task).
    IsPending {
        hash: Hash,
        reply: oneshot::Sender<bool>,
    },
    /// The nonce an account's next transfer should carry, counting its pending ones.
    NextNonce {
        address: Address,
        reply: oneshot::Sender<u64>,
    },
    /// What waits in the mempool (`GET /v1/mempool`).
    Mempool {
        limit: usize,
        from: Option<Address>,
        reply: oneshot::Sender<interface::http::MempoolView>,
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
    pub(crate) reads: Reads,
    /// Published by the node task after every event (see `service`).
    pub(crate) admission: Arc<crate::admission::Admission>,
    /// Decodes and verifies submissions before they reach the node task.
    pub(crate) verifier: Arc<ledger::verify::TxVerifier>,
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
    /// No room for any of a batch's transactions: one refusal (a `MempoolFull`, counted once
    /// per transaction) for the whole request, so an overloaded node answers in one line.
    #[error("{0}")]
    Full(Refusal),
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
        self.reads.halted().await
    }

    pub async fn submit(&self, raw: Vec<u8>) -> Result<Result<Hash, Refusal>, NodeError> {
        match self.submit_batch(vec![raw]).await {
            Ok(mut results) => Ok(results.pop().expect("one result per transaction")),
            Err(NodeError::Full(refused)) => Ok(Err(refused)),
            Err(e) => Err(e),
        }
    }

    /// Admit many transactions at once (verified in parallel); one result per transaction.
    pub async fn submit_batch(
        &self,
        raws: Vec<Vec<u8>>,
    ) -> Result<Vec<Result<Hash, Refusal>>, NodeError> {
        // Overload is refused at the door: a request that cannot be admitted costs the node
        // task nothing, so refusals cannot slow the draining they wait for.
        let n = raws.len();
        let reservation = self
            .admission
            .try_reserve(n, crate::admission::Origin::Client);
        let fits = reservation.as_ref().map_or(0, |r| r.len());
        if fits == 0 {
            return Err(NodeError::Full(self.refuse_full(n)()));
        }
        // The expensive part, on the verifier's threads, so the node task (consensus) only
        // checks the results against the state. What did not fit is not verified.
        let mut raws = raws;
        raws.truncate(fits);
        let verifier = self.verifier.clone();
        let (raws, verified) = tokio::task::spawn_blocking(move || {
            let verified = verifier.admit(&raws);
            (raws, verified)
        })
        .await
        .map_err(|_| NodeError::Stopped)?;
        let mut answer = self
            .ask(|reply| Request::Submit {
                raws,
                verified,
                reply,
            })
            .await?;
        drop(reservation);
        let full = self.refuse_full(n - fits);
        answer.extend((fits..n).map(|_| Err(full())));
        Ok(answer)
    }

    /// The refusal a client submission of `count` transactions gets when there is no room
    /// for any of it, decided before anything is decoded (and counted); None if there is room.
    pub fn refuse_if_no_room(&self, count: usize) -> Option<Refusal> {
        (!self.admission.has_room(crate::admission::Origin::Client))
            .then(|| self.refuse_full(count)())
    }

    /// Count `count` refusals for want of room; the closure makes each one's error.
    fn refuse_full(&self, count: usize) -> impl Fn() -> Refusal + use<> {
        let txs = self.reads.status().mempool + self.admission.verifying();
        self.metrics
            .txs_refused(interface::http::ErrorCode::MempoolFull.as_str(), count);
        move || Refusal::MempoolFull { txs, bytes: 0 }
    }

    /// Recent commits from `from` on, with this node's commit times (see `commit_log`).
    pub async fn commits(&self, from: u64) -> Result<Vec<CommitInfo>, NodeError> {
        Ok(self.reads.commits(from))
    }

    pub async fn status(&self) -> Result<Status, NodeError> {
        Ok(self.reads.status())
    }

    /// A read of the store (RocksDB, block decoding) on the blocking pool: never on the
    /// runtime's workers, which serve every request and the node's own tasks.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Reads) -> Result<T, ledger::storage::StorageError> + Send + 'static,
    ) -> Result<T, NodeError> {
        let reads = self.reads.clone();
        Ok(tokio::task::spawn_blocking(move || f(&reads))
            .await
            .map_err(|_| NodeError::Stopped)??)
    }

    pub async fn account(&self, address: Address) -> Result<Account, NodeError> {
        self.read(move |r| r.account(&address)).await
    }

    /// The committed account and the nonce its next transfer should carry here (two
    /// transfers sent in a row, without waiting, must not both take the committed nonce).
    pub async fn account_view(&self, address: Address) -> Result<AccountView, NodeError> {
        let stored = self.read(move |r| r.account_if_any(&address)).await?;
        let account = stored.unwrap_or_default();
        let pending = self
            .ask(|reply| Request::NextNonce { address, reply })
            .await?;
        Ok(AccountView {
            balance: account.balance,
            nonce: account.nonce,
            next_nonce: pending.max(account.nonce),
            exists: stored.is_some(),
        })
    }

    pub async fn account_proof(
        &self,
        address: Address,
        height: Option<u64>,
    ) -> Result<interface::http::AccountProofView, NodeError> {
        self.read(move |r| r.account_proof(&address, height)).await
    }

    pub async fn tx_proof(
        &self,
        hash: Hash,
    ) -> Result<Option<interface::http::TxProofView>, NodeError> {
        self.read(move |r| r.tx_proof(&hash)).await
    }

    pub async fn tx(&self, hash: Hash) -> Result<TxStatus, NodeError> {
        if let Some(record) = self.read(move |r| r.tx(&hash)).await? {
            return Ok(TxStatus::Committed(record));
        }
        let pending = self.ask(|reply| Request::IsPending { hash, reply }).await?;
        Ok(if pending {
            TxStatus::Pending
        } else {
            // Committed between the two looks?
            self.read(move |r| r.tx(&hash))
                .await?
                .map_or(TxStatus::Unknown, TxStatus::Committed)
        })
    }

    /// Wait up to `wait` for `hash` to be committed (woken by each commit, not polling).
    /// Returns its record, or `None` if it was not committed in time.
    pub async fn wait_for_commit(
        &self,
        hash: Hash,
        wait: Duration,
    ) -> Result<Option<TxRecord>, NodeError> {
        Ok(self.reads.wait_for_tx(hash, wait).await?)
    }

    /// A committed block with its certificate; `None` height means the latest.
    pub async fn block(
        &self,
        height: Option<u64>,
    ) -> Result<Option<(Block, CommitCertificate)>, NodeError> {
        self.read(move |r| r.block(height)).await
    }

    pub async fn validators(&self) -> Result<Vec<Validator>, NodeError> {
        Ok(self.reads.validators().to_vec())
    }

    /// The oldest `limit` transactions in the mempool (only `from`'s, if given), with its
    /// totals and bounds.
    pub async fn mempool(
        &self,
        limit: usize,
        from: Option<Address>,
    ) -> Result<interface::http::MempoolView, NodeError> {
        self.ask(|reply| Request::Mempool { limit, from, reply })
            .await
    }

    /// `address`'s committed transfers, newest first, from before height `before`.
    pub async fn account_txs(
        &self,
        address: Address,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ledger::AccountTx>, NodeError> {
        self.read(move |r| r.store().account_txs(&address, before, limit))
            .await
    }

    /// Committed blocks as they happen (a listener that falls behind gets `Lagged`).
    pub fn subscribe_commits(&self) -> tokio::sync::broadcast::Receiver<Arc<CommitInfo>> {
        self.reads.subscribe_commits()
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
