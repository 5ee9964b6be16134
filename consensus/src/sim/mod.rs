//! Deterministic simulation of `n` validators in one process.
//!
//! A seeded [`Scenario`] describes the faults; [`run`] drives every validator's [`Driver`] (the
//! one the node runs, with this simulation as its host) over a simulated network that delays,
//! drops, duplicates and reorders messages and partitions validators until a global
//! stabilisation time (GST), with crashes and restarts
//! from each validator's persisted record, silent and equivocating validators, and Twins.
//! It checks agreement, validity, certificates and liveness, and returns what it saw.
//!
//! Reproduce a failure with `LANTAU_SIM_SEED=<seed> cargo test --release -p consensus --test
//! simulation` (the seed is printed on failure).

mod rng;
mod scenario;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};

use ledger::crypto::sha256;
use ledger::merkle::merkle_root;
use ledger::{
    Block, BlockHeader, CommitCertificate, Hash, Keypair, SignedVote, ValidatorSet, Vote,
};

pub use rng::Rng;
pub use scenario::{Role, Scenario};

use crate::driver::{Driver, Host, Output};
use crate::messages::{Message, Proposal};
use crate::state_machine::{Config, Consensus, Input, SignRecord, Timeout, Timeouts};

pub const CHAIN_ID: &str = "sim-chain";
/// Marks a block the honest application judges invalid.
const INVALID_ROOT: Hash = Hash([0xBA; 32]);
/// Virtual time allowed after GST for every honest validator to reach the target height.
const LIVENESS_WINDOW_MS: u64 = 300_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    Agreement {
        height: u64,
        first: Hash,
        second: Hash,
    },
    Validity {
        node: usize,
        height: u64,
        block: Hash,
    },
    Certificate {
        node: usize,
        height: u64,
        error: String,
    },
    Liveness {
        node: usize,
        height_reached: u64,
        target: u64,
    },
}

impl Violation {
    pub fn is_safety(&self) -> bool {
        !matches!(self, Violation::Liveness { .. })
    }
}

/// What one simulation run saw.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub seed: u64,
    pub violations: Vec<Violation>,
    /// Highest certificate round among heights that began after GST.
    pub max_round_after_gst: u32,
    pub messages_delivered: u64,
    pub evidence: u64,
    pub end_ms: u64,
    /// `(committed height, consensus height, round, step)` of every node at the end, for
    /// diagnosing a failed run.
    pub final_states: Vec<String>,
}

impl Outcome {
    pub fn safety_violations(&self) -> impl Iterator<Item = &Violation> {
        self.violations.iter().filter(|v| v.is_safety())
    }
}

/// Timeouts scaled to the simulated network, short so runs stay small.
pub fn sim_timeouts() -> Timeouts {
    Timeouts {
        propose_base_ms: 300,
        propose_delta_ms: 100,
        prevote_base_ms: 200,
        prevote_delta_ms: 100,
        precommit_base_ms: 200,
        precommit_delta_ms: 100,
        rebroadcast_ms: 500,
    }
}

enum Event {
    Deliver {
        to: usize,
        from: usize,
        msg: Message,
    },
    Timeout {
        to: usize,
        epoch: u64,
        timeout: Timeout,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
    SyncReply {
        to: usize,
        from: usize,
        height: u64,
    },
    Partition {
        groups: Vec<u8>,
    },
    Heal,
}

/// What survives a crash: the signing log (last record, and all of the current height) and
/// the committed chain.
#[derive(Default)]
struct Disk {
    log: Vec<SignRecord>,
    chain: Vec<(Block, CommitCertificate)>,
}

struct Node {
    key_index: usize,
    role: Role,
    /// `None` while crashed (or never booted: silent).
    driver: Option<Driver>,
    disk: Disk,
    epoch: u64,
    sync_pending: bool,
}

struct Sim {
    sc: Scenario,
    rng: Rng,
    keys: Vec<Keypair>,
    validators: ValidatorSet,
    genesis_hash: Hash,
    nodes: Vec<Node>,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    events: HashMap<usize, Event>,
    next_event: usize,
    seq: u64,
    now: u64,
    partition: Option<Vec<u8>>,
    proposed: HashSet<Hash>,
    decisions: BTreeMap<u64, Hash>,
    first_decided_at: BTreeMap<u64, u64>,
    outcome: Outcome,
}

/// Run one scenario to completion.
pub fn run(sc: &Scenario) -> Outcome {
    Sim::new(sc.clone()).run()
}

impl Sim {
    fn new(sc: Scenario) -> Self {
        let keys: Vec<Keypair> = (0..sc.validators)
            .map(|i| Keypair::from_seed(&format!("sim-validator-{i}")))
            .collect();
        let validators = ValidatorSet::equal(keys.iter().map(Keypair::public)).expect("valid set");
        let mut nodes = Vec::new();
        for (i, role) in sc.roles.iter().enumerate() {
            let copies = if *role == Role::Twin { 2 } else { 1 };
            for _ in 0..copies {
                nodes.push(Node {
                    key_index: i,
                    role: *role,
                    driver: None,
                    disk: Disk::default(),
                    epoch: 0,
                    sync_pending: false,
                });
            }
        }
        let seed = sc.seed;
        Self {
            rng: Rng::new(seed),
            keys,
            validators,
            genesis_hash: sha256(&[b"sim-genesis", CHAIN_ID.as_bytes()]),
            nodes,
            queue: BinaryHeap::new(),
            events: HashMap::new(),
            next_event: 0,
            seq: 0,
            now: 0,
            partition: None,
            proposed: HashSet::new(),
            decisions: BTreeMap::new(),
            first_decided_at: BTreeMap::new(),
            outcome: Outcome {
                seed,
                violations: vec![],
                max_round_after_gst: 0,
                messages_delivered: 0,
                evidence: 0,
                end_ms: 0,
                final_states: vec![],
            },
            sc,
        }
    }

    fn schedule(&mut self, at: u64, event: Event) {
        let id = self.next_event;
        self.next_event += 1;
        self.seq += 1;
        self.events.insert(id, event);
        self.queue.push(Reverse((at, self.seq, id)));
    }

    fn honest(&self, node: usize) -> bool {
        self.nodes[node].role == Role::Honest
    }

    fn run(mut self) -> Outcome {
        self.plan_faults();
        for i in 0..self.nodes.len() {
            if self.nodes[i].role != Role::Silent {
                self.boot(i);
            }
        }
        let deadline = self.sc.gst_ms + LIVENESS_WINDOW_MS;
        while let Some(Reverse((at, _, id))) = self.queue.pop() {
            if at > deadline || self.done() {
                break;
            }
            self.now = at;
            let event = self.events.remove(&id).expect("queued event exists");
            self.dispatch(event);
        }
        self.outcome.end_ms = self.now;
        self.outcome.final_states = self
            .nodes
            .iter()
            .map(|n| match n.driver.as_ref().map(Driver::consensus) {
                Some(c) => format!(
                    "{:?} committed {} at ({}, {}, {:?}) locked {:?}",
                    n.role,
                    n.disk.chain.len(),
                    c.height(),
                    c.round(),
                    c.step(),
                    c.locked().map(|l| l.0)
                ),
                None => format!("{:?} down, committed {}", n.role, n.disk.chain.len()),
            })
            .collect();
        for i in 0..self.nodes.len() {
            if self.honest(i) {
                let reached = self.nodes[i].disk.chain.len() as u64;
                if reached < self.sc.heights {
                    self.outcome.violations.push(Violation::Liveness {
                        node: i,
                        height_reached: reached,
                        target: self.sc.heights,
                    });
                }
            }
        }
        // Rounds a height needed when it began after GST: the previous height was first
        // decided after GST (height 1 counts when GST is 0).
        for (height, cert_round) in self.decided_rounds() {
            let began_after_gst = match height {
                1 => self.sc.gst_ms == 0,
                h => self
                    .first_decided_at
                    .get(&(h - 1))
                    .is_some_and(|&at| at > self.sc.gst_ms),
            };
            if began_after_gst {
                self.outcome.max_round_after_gst = self.outcome.max_round_after_gst.max(cert_round);
            }
        }
        self.outcome
    }

    /// The round of the certificate an honest validator committed at each height.
    fn decided_rounds(&self) -> BTreeMap<u64, u32> {
        let mut out = BTreeMap::new();
        for n in self.nodes.iter().filter(|n| n.role == Role::Honest) {
            for (b, c) in &n.disk.chain {
                out.entry(b.header.height).or_insert(c.round);
            }
        }
        out
    }

    fn done(&self) -> bool {
        (0..self.nodes.len())
            .filter(|&i| self.honest(i))
            .all(|i| self.nodes[i].disk.chain.len() as u64 >= self.sc.heights)
    }

    fn plan_faults(&mut self) {
        let gst = self.sc.gst_ms;
        if self.sc.crashes && gst > 0 {
            let honest: Vec<usize> = (0..self.nodes.len()).filter(|&i| self.honest(i)).collect();
            for _ in 0..self.rng.range(1, 3) {
                let node = *self.rng.pick(&honest);
                let at = self.rng.range(0, gst);
                self.schedule(at, Event::Crash { node });
            }
        }
        if self.sc.partitions && gst > 0 {
            let mut t = 0;
            while t < gst {
                let start = t + self.rng.range(0, gst / 2 + 1);
                let end = (start + self.rng.range(100, gst / 2 + 200)).min(gst);
                let groups = (0..self.nodes.len())
                    .map(|_| self.rng.range(0, 1) as u8)
                    .collect();
                self.schedule(start, Event::Partition { groups });
                self.schedule(end, Event::Heal);
                t = end + 1;
            }
        }
    }

    fn config(&self) -> Config {
        Config {
            chain_id: CHAIN_ID.into(),
            timeouts: sim_timeouts(),
            mutation: self.sc.mutation,
        }
    }

    fn boot(&mut self, i: usize) {
        let n = &self.nodes[i];
        let key = Keypair::from_secret(self.keys[n.key_index].secret_bytes());
        let height = n.disk.chain.len() as u64 + 1;
        let mut driver = Driver::new(Consensus::new(
            self.config(),
            self.validators.clone(),
            Some(key),
            height,
            n.disk.log.clone(),
        ));
        let out = driver.start(&mut SimHost { sim: self, node: i });
        self.nodes[i].driver = Some(driver);
        self.after(i, out);
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Deliver { to, from, msg } => self.deliver(to, from, msg),
            Event::Timeout { to, epoch, timeout } => {
                if self.nodes[to].epoch == epoch {
                    self.input(to, Input::Timeout(timeout));
                }
            }
            Event::Crash { node } => self.crash(node),
            Event::Restart { node } => {
                self.nodes[node].epoch += 1;
                self.boot(node);
            }
            Event::SyncReply { to, from, height } => {
                self.nodes[to].sync_pending = false;
                let entry = self.nodes[from]
                    .disk
                    .chain
                    .get(height as usize - 1)
                    .cloned();
                let current = self.nodes[to]
                    .driver
                    .as_ref()
                    .map(|d| d.consensus().height());
                if let (Some((block, certificate)), Some(h)) = (entry, current)
                    && h == height
                {
                    self.input(to, Input::SyncedBlock { block, certificate });
                }
            }
            Event::Partition { groups } => self.partition = Some(groups),
            Event::Heal => self.partition = None,
        }
    }

    fn crash(&mut self, node: usize) {
        if self.nodes[node].driver.take().is_none() {
            return;
        }
        self.nodes[node].epoch += 1;
        let back = (self.now + self.rng.range(50, 2_000)).min(self.sc.gst_ms);
        self.schedule(back.max(self.now + 1), Event::Restart { node });
    }

    fn deliver(&mut self, to: usize, from: usize, msg: Message) {
        let Some(driver) = self.nodes[to].driver.as_ref() else {
            return;
        };
        self.outcome.messages_delivered += 1;
        let height = driver.consensus().height();
        if msg.height() > height && !self.nodes[to].sync_pending {
            // Someone is ahead: fetch the block we miss from them.
            self.nodes[to].sync_pending = true;
            let at = self.now + self.link_delay();
            self.schedule(at, Event::SyncReply { to, from, height });
        }
        let input = match msg {
            Message::Proposal(p) => Input::Proposal(*p),
            Message::Vote(v) => Input::Vote(v),
        };
        self.input(to, input);
    }

    /// Run the node's driver on one input, with this simulation as its host, then carry out
    /// what it returns. The driver is taken out of the node while it runs so the host can
    /// reach the whole simulation (disk, clock, checks).
    fn input(&mut self, i: usize, input: Input) {
        let Some(mut driver) = self.nodes[i].driver.take() else {
            return;
        };
        // Refused inputs (stale, far-future) change nothing; a real node would count them.
        let out = driver
            .handle(input, &mut SimHost { sim: self, node: i })
            .unwrap_or_default();
        self.nodes[i].driver = Some(driver);
        self.after(i, out);
    }

    fn after(&mut self, i: usize, outputs: Vec<Output>) {
        let crashed = self.nodes[i]
            .driver
            .as_ref()
            .is_some_and(|d| d.halted().is_some());
        let epoch = self.nodes[i].epoch;
        for output in outputs {
            if self.nodes[i].epoch != epoch {
                // It crashed while building a block (below): the rest died with it.
                return;
            }
            match output {
                Output::Broadcast(msg) => self.broadcast(i, msg),
                Output::ScheduleTimeout { timeout, after_ms } => {
                    let epoch = self.nodes[i].epoch;
                    self.schedule(
                        self.now + after_ms,
                        Event::Timeout {
                            to: i,
                            epoch,
                            timeout,
                        },
                    );
                }
                Output::BuildBlock { height, round } => {
                    let block = self.build_block(i, height, round);
                    self.input(
                        i,
                        Input::BlockToPropose {
                            height,
                            round,
                            block,
                        },
                    );
                }
                Output::Evidence(_) => self.outcome.evidence += 1,
            }
        }
        if crashed {
            // The host failed the driver on purpose: a crash right after a persist.
            self.crash(i);
        }
    }

    fn tip_hash(&self, i: usize) -> Hash {
        self.nodes[i]
            .disk
            .chain
            .last()
            .map_or(self.genesis_hash, |(b, _)| b.hash())
    }

    fn build_block(&mut self, i: usize, height: u64, round: u32) -> Block {
        let header = BlockHeader {
            chain_id: CHAIN_ID.into(),
            height,
            round,
            prev_hash: self.tip_hash(i),
            proposer: self.keys[self.nodes[i].key_index].public(),
            timestamp_ms: self.now,
            tx_root: merkle_root(&[]),
            state_root: Hash::ZERO,
        };
        Block {
            header,
            txs: vec![],
        }
    }

    /// The honest application: right height, extends our chain, not marked invalid.
    fn judge(&self, i: usize, height: u64, block: &Block) -> bool {
        block.header.height == height
            && block.header.prev_hash == self.tip_hash(i)
            && block.header.state_root != INVALID_ROOT
    }

    fn decided(&mut self, i: usize, block: Block, certificate: CommitCertificate) {
        let height = block.header.height;
        let hash = block.hash();
        if self.honest(i) {
            if let Err(e) = certificate.verify(CHAIN_ID, height, &hash, &self.validators) {
                self.outcome.violations.push(Violation::Certificate {
                    node: i,
                    height,
                    error: e.to_string(),
                });
            }
            if !self.proposed.contains(&hash) || block.header.state_root == INVALID_ROOT {
                self.outcome.violations.push(Violation::Validity {
                    node: i,
                    height,
                    block: hash,
                });
            }
            match self.decisions.get(&height) {
                Some(first) if *first != hash => {
                    self.outcome.violations.push(Violation::Agreement {
                        height,
                        first: *first,
                        second: hash,
                    });
                }
                Some(_) => {}
                None => {
                    self.decisions.insert(height, hash);
                }
            }
            self.first_decided_at.entry(height).or_insert(self.now);
        }
        // Committing is synchronous and durable in the simulation.
        self.nodes[i].disk.chain.push((block, certificate));
    }

    fn link_delay(&mut self) -> u64 {
        if self.now >= self.sc.gst_ms {
            self.rng.range(1, self.sc.delta_ms)
        } else {
            self.rng.range(1, self.sc.max_delay_ms)
        }
    }

    fn send(&mut self, from: usize, to: usize, msg: Message) {
        if self.now < self.sc.gst_ms {
            if let Some(groups) = &self.partition
                && groups[from] != groups[to]
            {
                return;
            }
            if self.rng.chance(self.sc.drop_prob) {
                return;
            }
        }
        let copies = if self.rng.chance(self.sc.duplicate_prob) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let at = self.now + self.link_delay();
            self.schedule(
                at,
                Event::Deliver {
                    to,
                    from,
                    msg: msg.clone(),
                },
            );
        }
    }

    fn broadcast(&mut self, from: usize, msg: Message) {
        if let Message::Proposal(p) = &msg {
            self.proposed.insert(p.proposal.block.hash());
        }
        let own = msg.signer() == self.keys[self.nodes[from].key_index].public();
        let alternative = if own && self.nodes[from].role == Role::Equivocator {
            self.equivocate(from, &msg)
        } else {
            None
        };
        for to in 0..self.nodes.len() {
            if to == from {
                continue;
            }
            match &alternative {
                Some(alt) if to % 2 == 1 => self.send(from, to, alt.clone()),
                _ => self.send(from, to, msg.clone()),
            }
        }
    }

    /// A conflicting twin of `msg`, signed with the equivocator's key.
    fn equivocate(&mut self, from: usize, msg: &Message) -> Option<Message> {
        let key = &self.keys[self.nodes[from].key_index];
        match msg {
            Message::Proposal(p) => {
                let mut block = p.proposal.block.clone();
                block.header.timestamp_ms += 1;
                if self.rng.chance(0.5) {
                    block.header.state_root = INVALID_ROOT;
                }
                self.proposed.insert(block.hash());
                let alt = Proposal {
                    block,
                    ..p.proposal.clone()
                };
                Some(Message::Proposal(Box::new(alt.sign(CHAIN_ID, key))))
            }
            Message::Vote(v) => {
                let block = match v.vote.block {
                    Some(_) => None,
                    None => Some(sha256(&[
                        b"equivocation",
                        &self.rng.next_u64().to_le_bytes(),
                    ])),
                };
                let alt: SignedVote = Vote {
                    block,
                    ..v.vote.clone()
                }
                .sign(CHAIN_ID, key);
                Some(Message::Vote(alt))
            }
        }
    }
}

/// One simulated validator's machine, as its driver sees it.
struct SimHost<'a> {
    sim: &'a mut Sim,
    node: usize,
}

/// A crash injected right after a signature became durable.
struct Crashed;

impl std::fmt::Display for Crashed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("simulated crash after a persist")
    }
}

impl Host for SimHost<'_> {
    type Error = Crashed;

    fn persist(&mut self, record: &SignRecord) -> Result<(), Crashed> {
        let sim = &mut *self.sim;
        let log = &mut sim.nodes[self.node].disk.log;
        log.retain(|r| r.height == record.height);
        log.push(record.clone());
        if sim.now < sim.sc.gst_ms && sim.rng.chance(sim.sc.crash_after_persist_prob) {
            // Durable, but the node dies before sending it.
            return Err(Crashed);
        }
        Ok(())
    }

    fn validate(&mut self, height: u64, block: &Block) -> bool {
        self.sim.judge(self.node, height, block)
    }

    fn commit(&mut self, block: Block, certificate: CommitCertificate) -> Result<(), Crashed> {
        self.sim.decided(self.node, block, certificate);
        Ok(())
    }
}
