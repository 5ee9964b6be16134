//! Recent commits as this node saw them: when each block was proposed and committed, and
//! which transactions it held. Served at `/v1/commits` for benchmarks and monitoring (the
//! commit time is this node's wall clock at the synced write, which a block cannot carry).

use std::collections::VecDeque;

pub use interface::http::CommitInfo;

/// Blocks kept; older ones are forgotten (the chain itself is in RocksDB).
pub const KEEP_BLOCKS: usize = 4096;
/// ... and at most this many bytes of them: 4,096 blocks of 10,000 transaction ids would be
/// 1.3 GB.
pub const KEEP_BYTES: usize = 64 << 20;
/// One answer's bytes (it is cloned under the lock the node task takes at each commit, then
/// rendered as JSON at about twice the size); it holds at least one block, whatever its size.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;
pub use interface::http::MAX_COMMITS_PER_QUERY as MAX_PER_QUERY;

/// What an entry holds in memory, about.
fn cost(info: &CommitInfo) -> usize {
    std::mem::size_of::<CommitInfo>() + std::mem::size_of_val(&info.txs[..])
}

#[derive(Default)]
pub struct CommitLog {
    entries: VecDeque<CommitInfo>,
    bytes: usize,
}

impl CommitLog {
    pub fn push(&mut self, info: CommitInfo) {
        self.bytes += cost(&info);
        self.entries.push_back(info);
        while self.entries.len() > KEEP_BLOCKS
            || (self.bytes > KEEP_BYTES && self.entries.len() > 1)
        {
            let old = self.entries.pop_front().expect("not empty");
            self.bytes -= cost(&old);
        }
    }

    /// Up to [`MAX_PER_QUERY`] commits and [`MAX_ANSWER_BYTES`] from `from` on (from the
    /// oldest kept, if `from` was forgotten: the caller sees the gap in the heights).
    pub fn since(&self, from: u64) -> Vec<CommitInfo> {
        let first = self.entries.front().map_or(0, |e| e.height);
        let skip = from.saturating_sub(first) as usize;
        let mut bytes = 0;
        self.entries
            .iter()
            .skip(skip)
            .take(MAX_PER_QUERY)
            .take_while(|e| {
                let fits = bytes == 0 || bytes + cost(e) <= MAX_ANSWER_BYTES;
                bytes += cost(e);
                fits
            })
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

    /// Big blocks are bounded by bytes, kept and answered: the log holds what fits in
    /// `KEEP_BYTES`, an answer what fits in `MAX_ANSWER_BYTES` (but always one block).
    #[test]
    fn big_blocks_are_bounded_in_bytes() {
        let mut log = CommitLog::default();
        let hashes = |n: usize| vec![Hash([7; 32]); n];
        for h in 1..=400 {
            log.push(CommitInfo::new(&block(h), hashes(10_000), h));
        }
        assert!(log.bytes <= KEEP_BYTES, "{}", log.bytes);
        assert!(log.entries.len() < 400);
        let kept_from = log.entries.front().unwrap().height;
        let answer = log.since(kept_from);
        let answered: usize = answer.iter().map(cost).sum();
        assert!(answered <= MAX_ANSWER_BYTES, "{answered}");
        assert_eq!(answer.len(), MAX_ANSWER_BYTES / cost(&answer[0]));
        log.push(CommitInfo::new(&block(401), hashes(100_000), 401));
        assert_eq!(
            log.since(401).len(),
            1,
            "one block is answered, however big"
        );
    }
}
