//! Recent commits as this node saw them: when each block was proposed and committed, and
//! which transactions it held. Served at `/v1/commits` for benchmarks and monitoring (the
//! commit time is this node's wall clock at the synced write, which a block cannot carry).

use std::collections::VecDeque;

use ledger::{Block, Hash};
use serde::{Deserialize, Serialize};

/// Blocks kept; older ones are forgotten (the chain itself is in RocksDB).
pub const KEEP_BLOCKS: usize = 4096;
/// Most entries one `/v1/commits` answer carries.
pub const MAX_PER_QUERY: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitInfo {
    pub height: u64,
    pub round: u32,
    /// The proposer's clock when it built the block (ms since the Unix epoch).
    pub proposed_at_ms: u64,
    /// This node's clock when the block was durably committed.
    pub committed_at_ms: u64,
    pub txs: Vec<Hash>,
}

impl CommitInfo {
    pub fn new(block: &Block, txs: Vec<Hash>, committed_at_ms: u64) -> Self {
        Self {
            height: block.header.height,
            round: block.header.round,
            proposed_at_ms: block.header.timestamp_ms,
            committed_at_ms,
            txs,
        }
    }
}

#[derive(Default)]
pub struct CommitLog {
    entries: VecDeque<CommitInfo>,
}

impl CommitLog {
    pub fn push(&mut self, info: CommitInfo) {
        if self.entries.len() == KEEP_BLOCKS {
            self.entries.pop_front();
        }
        self.entries.push_back(info);
    }

    /// Up to [`MAX_PER_QUERY`] commits from `from` on (from the oldest kept, if `from` was
    /// forgotten: the caller sees the gap in the heights).
    pub fn since(&self, from: u64) -> Vec<CommitInfo> {
        let first = self.entries.front().map_or(0, |e| e.height);
        let skip = from.saturating_sub(first) as usize;
        self.entries
            .iter()
            .skip(skip)
            .take(MAX_PER_QUERY)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::{BlockHeader, Keypair};

    fn block(height: u64) -> Block {
        Block {
            header: BlockHeader {
                chain_id: "c".into(),
                height,
                round: 0,
                prev_hash: Hash([0; 32]),
                proposer: Keypair::from_seed("p").public(),
                timestamp_ms: height * 10,
                tx_root: Hash([0; 32]),
                state_root: Hash([0; 32]),
            },
            txs: vec![],
        }
    }

    #[test]
    fn keeps_the_latest_blocks_and_answers_from_a_height() {
        let mut log = CommitLog::default();
        for h in 1..=(KEEP_BLOCKS as u64 + 10) {
            log.push(CommitInfo::new(&block(h), vec![], h * 10 + 5));
        }
        let got = log.since(100);
        assert_eq!(got.len(), MAX_PER_QUERY);
        assert_eq!(got[0].height, 100);
        assert_eq!(got[0].committed_at_ms, 1005);
        // Heights 1-10 were forgotten: the answer starts at the oldest kept.
        assert_eq!(log.since(1)[0].height, 11);
        assert!(log.since(KEEP_BLOCKS as u64 + 11).is_empty());
    }
}
