//! Recent commits as this node saw them: when each block was proposed and committed, and
//! which transactions it held. Served at `/v1/commits` for benchmarks and monitoring (the
//! commit time is this node's wall clock at the synced write, which a block cannot carry).

use std::collections::VecDeque;

pub use interface::http::CommitInfo;

/// Blocks kept; older ones are forgotten (the chain itself is in RocksDB).
pub const KEEP_BLOCKS: usize = 4096;
pub use interface::http::MAX_COMMITS_PER_QUERY as MAX_PER_QUERY;

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
    use ledger::{Block, BlockHeader, Hash, Keypair};

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
