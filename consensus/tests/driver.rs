//! The driver's promises, which every host (node, in-process net, simulator) relies on:
//! nothing signed goes out before its record is durable, and a validator that cannot persist
//! or commit stops instead of voting on.

use consensus::{
    Config, Consensus, Driver, Host, Input, Message, Output, Proposal, SignRecord, TimeoutKind,
};
use ledger::merkle::merkle_root;
use ledger::{Block, BlockHeader, CommitCertificate, Hash, Keypair, ValidatorSet, Vote, VoteKind};

const CHAIN: &str = "driver-chain";

fn keys() -> Vec<Keypair> {
    (0..4)
        .map(|i| Keypair::from_seed(&format!("driver-{i}")))
        .collect()
}

fn set(keys: &[Keypair]) -> ValidatorSet {
    ValidatorSet::equal(keys.iter().map(Keypair::public)).unwrap()
}

/// A host that records what it was asked and fails where told to.
#[derive(Default)]
struct Recorder {
    persisted: Vec<SignRecord>,
    committed: Vec<Hash>,
    fail_persist: bool,
    fail_commit: bool,
    fail_validate: bool,
}

impl Host for Recorder {
    type Error = &'static str;

    fn persist(&mut self, record: &SignRecord) -> Result<(), &'static str> {
        if self.fail_persist {
            return Err("disk full");
        }
        self.persisted.push(record.clone());
        Ok(())
    }

    fn validate(&mut self, _height: u64, _block: &Block) -> Result<bool, &'static str> {
        if self.fail_validate {
            return Err("tip unreadable");
        }
        Ok(true)
    }

    fn commit(&mut self, block: Block, _: CommitCertificate) -> Result<(), &'static str> {
        if self.fail_commit {
            return Err("read-only file system");
        }
        self.committed.push(block.hash());
        Ok(())
    }
}

struct Setup {
    keys: Vec<Keypair>,
    /// The validator under test: not the proposer of round 0.
    me: usize,
    proposer: usize,
    block: Block,
}

fn setup() -> (Setup, Driver) {
    let keys = keys();
    let proposer_key = consensus::proposer::proposer(&set(&keys), 1, 0);
    let proposer = keys
        .iter()
        .position(|k| k.public() == proposer_key)
        .unwrap();
    let me = (proposer + 1) % 4;
    let block = Block {
        header: BlockHeader {
            chain_id: CHAIN.into(),
            height: 1,
            round: 0,
            prev_hash: Hash::ZERO,
            proposer: proposer_key,
            timestamp_ms: 1,
            tx_root: merkle_root(&[]),
            state_root: Hash::ZERO,
        },
        txs: vec![],
    };
    let signer = Keypair::from_secret(keys[me].secret_bytes());
    let consensus = Consensus::new(Config::new(CHAIN), set(&keys), Some(signer), 1, vec![]);
    let driver = Driver::new(consensus);
    (
        Setup {
            keys,
            me,
            proposer,
            block,
        },
        driver,
    )
}

impl Setup {
    fn proposal(&self) -> Input {
        let p = &self.keys[self.proposer];
        Input::Proposal(
            Proposal {
                height: 1,
                round: 0,
                pol_round: None,
                block: self.block.clone(),
                proposer: p.public(),
            }
            .sign(CHAIN, p),
        )
    }

    /// Every other validator's vote of `kind` for the block.
    fn votes(&self, kind: VoteKind) -> Vec<Input> {
        (0..4)
            .filter(|&i| i != self.me)
            .map(|i| {
                Input::Vote(
                    Vote {
                        height: 1,
                        round: 0,
                        kind,
                        block: Some(self.block.hash()),
                        validator: self.keys[i].public(),
                    }
                    .sign(CHAIN, &self.keys[i]),
                )
            })
            .collect()
    }
}

fn broadcasts(out: &[Output]) -> Vec<&Message> {
    out.iter()
        .filter_map(|o| match o {
            Output::Broadcast(m) => Some(m),
            _ => None,
        })
        .collect()
}

#[test]
fn a_message_goes_out_only_after_its_record_is_durable() {
    let (s, mut driver) = setup();
    let mut host = Recorder::default();
    let mut inputs = vec![s.proposal()];
    inputs.extend(s.votes(VoteKind::Prevote));
    inputs.extend(s.votes(VoteKind::Precommit));
    let mut sent = 0;
    for input in inputs {
        let Ok(out) = driver.handle(input, &mut host) else {
            assert_eq!(
                driver.consensus().height(),
                2,
                "only votes after the decision are late"
            );
            continue;
        };
        for msg in broadcasts(&out) {
            sent += 1;
            assert!(
                host.persisted.iter().any(|r| r.message == *msg),
                "{msg:?} was returned for sending without a durable record"
            );
        }
    }
    assert!(sent >= 2, "the validator prevoted and precommitted");
    assert_eq!(
        host.committed,
        vec![s.block.hash()],
        "the block was committed"
    );
    assert_eq!(driver.consensus().height(), 2);
    assert!(driver.halted().is_none());
}

#[test]
fn a_failed_persist_halts_and_sends_nothing_signed() {
    let (s, mut driver) = setup();
    let mut host = Recorder {
        fail_persist: true,
        ..Recorder::default()
    };
    let out = driver.handle(s.proposal(), &mut host).expect("accepted");
    assert!(
        broadcasts(&out).is_empty(),
        "a prevote went out unpersisted"
    );
    let reason = driver.halted().expect("halted").to_string();
    assert!(
        reason.contains("durable") && reason.contains("disk full"),
        "{reason}"
    );
    // Halted for good: the quorum's votes change nothing and produce nothing.
    host.fail_persist = false;
    for input in s.votes(VoteKind::Prevote) {
        assert!(driver.handle(input, &mut host).unwrap().is_empty());
    }
    assert!(host.persisted.is_empty());
}

#[test]
fn a_failed_commit_halts_before_the_next_height_begins() {
    let (s, mut driver) = setup();
    let mut host = Recorder {
        fail_commit: true,
        ..Recorder::default()
    };
    let mut last = vec![];
    let mut inputs = vec![s.proposal()];
    inputs.extend(s.votes(VoteKind::Prevote));
    inputs.extend(s.votes(VoteKind::Precommit));
    for input in inputs {
        last = driver.handle(input, &mut host).unwrap_or_default();
        if driver.halted().is_some() {
            break;
        }
    }
    let reason = driver.halted().expect("halted on the failed commit");
    assert!(reason.contains("cannot commit decided block 1"), "{reason}");
    // Nothing of height 2 was started: no timer, no proposal request, no vote.
    for output in &last {
        match output {
            Output::ScheduleTimeout { timeout, .. } => assert!(
                timeout.height == 1 || timeout.kind == TimeoutKind::Rebroadcast,
                "height 2 began: {timeout:?}"
            ),
            Output::BuildBlock { height, .. } => panic!("asked to build height {height}"),
            Output::Broadcast(m) => assert_eq!(m.height(), 1, "{m:?}"),
            Output::Evidence(_) => {}
        }
    }
    assert!(host.persisted.iter().all(|r| r.height == 1));
}

/// A host that cannot judge a proposal (its own tip unreadable) must stop the validator: one
/// that voted nil on every proposal forever would look alive while it can never commit.
#[test]
fn a_proposal_that_cannot_be_judged_halts_without_a_vote() {
    let (s, mut driver) = setup();
    let mut host = Recorder {
        fail_validate: true,
        ..Recorder::default()
    };
    let out = driver.handle(s.proposal(), &mut host).expect("accepted");
    assert!(broadcasts(&out).is_empty(), "it voted: {out:?}");
    assert!(host.persisted.is_empty(), "it signed a vote");
    let reason = driver.halted().expect("halted");
    assert!(
        reason.contains("cannot judge") && reason.contains("tip unreadable"),
        "{reason}"
    );
}
