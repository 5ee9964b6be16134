//! The node as the consensus driver's host: persist signing records and commit blocks to
//! RocksDB, validate proposals, and carry out what the driver returns (gossip, timers,
//! requests to build a block). A failure to persist or commit halts the validator (fail-stop).

use std::time::Duration;

use consensus::{Host, Input, InputError, Message, Output, SignRecord};
use ledger::{Block, CommitCertificate};
use tokio::time::Instant;

use super::Node;
use crate::app::{AppError, Application};
use crate::byzantine::Route;
use crate::commit_log::CommitInfo;
use crate::metrics::Metrics;
use crate::network::{self, Command};
use crate::reads::Publisher;

/// What the driver may touch while it handles one input.
struct NodeHost<'a> {
    app: &'a mut Application,
    publish: &'a Publisher,
    metrics: &'a Metrics,
    committed_height: &'a mut u64,
    last_commit: &'a mut Instant,
}

impl Host for NodeHost<'_> {
    type Error = AppError;

    fn persist(&mut self, record: &SignRecord) -> Result<(), AppError> {
        let started = std::time::Instant::now();
        tokio::task::block_in_place(|| self.app.persist_signing(record))?;
        self.metrics.signing_persisted(started.elapsed());
        Ok(())
    }

    fn validate(&mut self, height: u64, block: &Block) -> Result<bool, AppError> {
        let started = std::time::Instant::now();
        let verdict = tokio::task::block_in_place(|| self.app.validate(block))?;
        self.metrics.validated(started.elapsed());
        match verdict {
            Ok(()) => Ok(true),
            Err(invalid) => {
                self.metrics.consensus_refused(invalid.reason());
                tracing::warn!(
                    height,
                    round = block.header.round,
                    proposer = %block.header.proposer,
                    block = %block.hash(),
                    reason = %invalid,
                    "proposed block is invalid: voting nil"
                );
                Ok(false)
            }
        }
    }

    fn commit(&mut self, block: Block, certificate: CommitCertificate) -> Result<(), AppError> {
        let started = std::time::Instant::now();
        let (tip, hashes) = tokio::task::block_in_place(|| self.app.commit(&block, &certificate))?;
        *self.committed_height = tip.height;
        let m = self.metrics;
        m.height_took(self.last_commit.elapsed());
        *self.last_commit = Instant::now();
        m.committed(
            block.txs.len(),
            ledger::encoding::encoded_len(&block.txs),
            certificate.round,
            started.elapsed(),
        );
        tracing::info!(height = tip.height, txs = block.txs.len(), "committed");
        self.publish
            .committed(CommitInfo::new(&block, hashes, crate::now_ms()));
        Ok(())
    }
}

impl Node {
    fn host(&mut self) -> (&mut consensus::Driver, NodeHost<'_>) {
        (
            &mut self.driver,
            NodeHost {
                app: &mut self.app,
                publish: &self.publish,
                metrics: &self.metrics,
                committed_height: &mut self.committed_height,
                last_commit: &mut self.last_commit,
            },
        )
    }

    pub(super) async fn start(&mut self) {
        let (driver, mut host) = self.host();
        let out = driver.start(&mut host);
        self.carry_out(out).await;
    }

    /// Fail-stop for a reason the driver cannot see (a tip that cannot be read, a block that
    /// cannot be built): stop taking part rather than vote on a state we do not have.
    pub(super) fn halt(&mut self, reason: String) {
        self.driver.halt(reason);
        self.on_halted();
    }

    fn on_halted(&mut self) {
        let Some(reason) = self.driver.halted() else {
            return;
        };
        if self.metrics.halted.get() == 1 {
            return;
        }
        tracing::error!(
            %reason,
            height = self.committed_height,
            "validator halted: it will not vote or propose again until restarted; fix the cause (disk full or read-only, damaged data) and restart it"
        );
        self.metrics.halted.set(1);
    }

    pub(super) async fn input(&mut self, input: Input) -> Result<(), InputError> {
        let (driver, mut host) = self.host();
        let result = driver.handle(input, &mut host);
        self.on_halted();
        match result {
            Ok(out) => {
                self.carry_out(out).await;
                Ok(())
            }
            Err(e) => {
                self.metrics.consensus_refused(e.reason());
                tracing::debug!(error = %e, "consensus input refused");
                Err(e)
            }
        }
    }

    async fn carry_out(&mut self, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Broadcast(msg) => self.broadcast(msg).await,
                Output::ScheduleTimeout { timeout, after_ms } => {
                    let timers = self.timers.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(after_ms)).await;
                        let _ = timers.send(Input::Timeout(timeout)).await;
                    });
                }
                Output::BuildBlock { height, round } => {
                    // Wait out the block interval without holding up message handling.
                    let at = self.last_commit + self.proposing.interval;
                    let builds = self.proposing.builds.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep_until(at).await;
                        let _ = builds.send((height, round)).await;
                    });
                }
                Output::Evidence(e) => tracing::warn!(evidence = %e, "equivocation"),
            }
        }
    }

    async fn broadcast(&mut self, msg: Message) {
        let out = match &mut self.byzantine {
            Some(liar) => liar.outgoing(msg),
            None => vec![(Route::All, msg)],
        };
        for (route, msg) in out {
            self.metrics.message(true, msg.kind());
            let data = self.wire_bytes(msg);
            match route {
                Route::All => {
                    let topic = network::CONSENSUS_TOPIC;
                    let _ = self.net.send(Command::Publish { topic, data }).await;
                }
                Route::Only(validators) => {
                    for v in validators {
                        if let Some(&peer) = self.validator_peers.get(&v) {
                            let data = data.clone();
                            let _ = self.net.send(Command::PublishTo { peer, data }).await;
                        }
                    }
                }
            }
        }
    }
}
