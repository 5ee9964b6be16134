//! Building this validator's proposals: after the block interval, and with an empty mempool in
//! round 0 only once a first transaction arrives (or a deadline passes).

use std::collections::HashSet;
use std::time::Duration;

use consensus::Input;
use tokio::sync::mpsc;

use super::Node;

/// What the node task keeps for building proposals.
pub(super) struct Proposing {
    /// `(height, round)` to build for, once the block interval has passed.
    pub(super) builds: mpsc::Sender<(u64, u32)>,
    /// Least time between a commit and this validator's next proposal.
    pub(super) interval: Duration,
    /// A proposal waiting for its first transaction (see `empty_block_wait_ms`): built as soon
    /// as one is admitted, or empty at the deadline.
    pub(super) waiting: Option<(u64, u32)>,
    /// Proposals already built, by `(height, round)`.
    pub(super) built: HashSet<(u64, u32)>,
}

impl Proposing {
    /// A transaction was admitted: a proposal waiting for one is built now.
    pub(super) fn wake(&mut self) {
        if let Some((height, round)) = self.waiting.take() {
            let _ = self.builds.try_send((height, round));
        }
    }
}

impl Node {
    /// Build and propose for `(height, round)`, unless the round moved on meanwhile or this
    /// proposal already exists. With an empty mempool in round 0, wait (up to
    /// `empty_block_wait_ms` after the last commit) for a first transaction: admitting one
    /// wakes this up again (see `Node::admit`), so an idle chain makes few blocks and a busy
    /// one loses nothing.
    pub(super) async fn build(&mut self, height: u64, round: u32) {
        let Some(proposer) = self.driver.consensus().me() else {
            return;
        };
        let c = self.driver.consensus();
        if self.is_halted() || (c.height(), c.round()) != (height, round) {
            return;
        }
        if self.proposing.built.contains(&(height, round)) {
            return; // a wake-up after the block was already built
        }
        let wait = Duration::from_millis(self.app.config().empty_block_wait_ms);
        if round == 0 && self.app.mempool_len() == 0 && self.last_commit.elapsed() < wait {
            self.proposing.waiting = Some((height, round));
            let (at, builds) = (self.last_commit + wait, self.proposing.builds.clone());
            tokio::spawn(async move {
                tokio::time::sleep_until(at).await;
                let _ = builds.send((height, round)).await;
            });
            return;
        }
        self.proposing.waiting = None;
        // What we admitted goes out as a batch first: the proposal then names it.
        self.flush_outbox().await;
        let started = std::time::Instant::now();
        let block = match tokio::task::block_in_place(|| {
            self.app
                .build_block(height, round, proposer, crate::now_ms())
        }) {
            Ok(block) => block,
            Err(e) => return self.halt(format!("cannot build a block: {e}")),
        };
        self.metrics.built(started.elapsed());
        self.proposing.built.retain(|&(h, _)| h >= height);
        self.proposing.built.insert((height, round));
        let _ = self
            .input(Input::BlockToPropose {
                height,
                round,
                block,
            })
            .await;
    }
}
