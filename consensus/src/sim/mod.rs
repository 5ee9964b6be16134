//! Deterministic simulation of `n` validators in one process.
//!
//! A [`Scenario`] (seeded at random, or a hand-built schedule from [`schedules`]) describes the
//! faults; [`run`] drives every validator's [`Driver`] (the one the node runs, with this
//! simulation as its host) over a simulated network that delays, drops, duplicates and
//! reorders messages, partitions validators and cuts chosen protocol messages until a global
//! stabilisation time (GST). Validators crash at chosen persist positions or times and restart
//! from their signing log and chain; Byzantine validators run honest code and lie on top of it
//! ([`Lies`]); Twins run one key twice. The application is lantau's ledger, with real signed
//! transfers, and every message crosses the node's encoding (so tampered bodies are refused
//! where the node refuses them).
//!
//! Every run checks agreement, validity, certificates, byte-identical commits, conserved
//! supply, what honest validators sign ([`monitor`]), and after the network is stable a
//! round bound, a time bound per height (no wedge) and liveness. See ARCHITECTURE.md.
//!
//! Reproduce a failure with `LANTAU_SIM_SEED=<seed> cargo test --release -p consensus --test
//! simulation` (the seed is printed on failure).

mod adversary;
mod app;
mod checks;
mod monitor;
mod outcome;
mod rng;
mod scenario;
pub mod schedules;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};

use ledger::crypto::sha256;
use ledger::encoding;
use ledger::{Block, CommitCertificate, Hash, Keypair, State, Validator, ValidatorSet};

pub use outcome::{Outcome, Violation};
pub use rng::Rng;
pub use scenario::{Crash, CrashAt, Cut, Lies, Role, Scenario, kinds, mask, set};

use crate::driver::{Driver, Host, Output};
use crate::messages::Message;
use crate::{Config, Consensus, Input, SignRecord, Timeout, Timeouts};

pub const CHAIN_ID: &str = "sim-chain";
/// Virtual time allowed after the network is stable for every honest validator to reach the
/// target height.
const LIVENESS_WINDOW_MS: u64 = 300_000;
/// Rounds beyond the longest run of faulty proposers a height may need once the network is
/// stable: one whose proposal was still in flight, and slack for validators catching up
/// through block sync.
const ROUND_SLACK: u32 = 3;

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
        down_ms: u64,
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
    Gst,
}

/// What survives a crash: the signing log (last record, and all of the current height) and
/// the committed chain with the state it produced.
struct Disk {
    log: Vec<SignRecord>,
    chain: Vec<(Block, CommitCertificate)>,
    state: State,
}

struct Node {
    key_index: usize,
    role: Role,
    /// `None` while crashed (or never booted: silent).
    driver: Option<Driver>,
    disk: Disk,
    epoch: u64,
    sync_pending: bool,
    /// Signatures persisted so far, over all restarts: crash positions count these.
    persists: u32,
    commit_times: Vec<u64>,
}

/// When the network became stable for the last time (GST passed, every crashed node back)
/// and the highest round an honest validator at the highest height was in then.
#[derive(Clone, Copy)]
struct Stable {
    at: u64,
    round: u32,
    height: u64,
}

struct Sim {
    sc: Scenario,
    rng: Rng,
    keys: Vec<Keypair>,
    validators: ValidatorSet,
    accounts: app::Accounts,
    genesis_hash: Hash,
    nodes: Vec<Node>,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    events: HashMap<usize, Event>,
    next_event: usize,
    seq: u64,
    now: u64,
    partition: Option<Vec<u8>>,
    /// Every block proposed (or offered as an alternative), and the proposals of each
    /// (height, round), for the adversary to vote for.
    proposed: HashSet<Hash>,
    proposals_at: HashMap<(u64, u32), Vec<Hash>>,
    relayed: HashSet<Hash>,
    /// What a Byzantine proposer showed at (node, height, round): to its side, to the rest.
    shown: HashMap<(usize, u64, u32), (Hash, Hash)>,
    /// Transfers and certificates whose signatures were checked (the node's verified-once
    /// cache, shared here to keep runs cheap).
    verified: HashSet<Hash>,
    held: Vec<(usize, usize, Message)>,
    decisions: BTreeMap<u64, (Hash, Vec<u8>)>,
    first_decided_at: BTreeMap<u64, u64>,
    stable: Option<Stable>,
    down: usize,
    monitor: monitor::Monitor,
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
        let validators = ValidatorSet::new(
            keys.iter()
                .zip(&sc.powers)
                .map(|(k, &power)| Validator {
                    public_key: k.public(),
                    power,
                })
                .collect(),
        )
        .expect("valid set");
        let accounts = app::Accounts::new();
        let nodes = sc
            .nodes()
            .into_iter()
            .map(|(key_index, role)| Node {
                key_index,
                role,
                driver: None,
                disk: Disk {
                    log: vec![],
                    chain: vec![],
                    state: accounts.genesis(),
                },
                epoch: 0,
                sync_pending: false,
                persists: 0,
                commit_times: vec![],
            })
            .collect();
        let seed = sc.seed;
        Self {
            rng: Rng::new(seed),
            monitor: monitor::Monitor::new(sc.powers.clone()),
            keys,
            validators,
            accounts,
            genesis_hash: sha256(&[b"sim-genesis", CHAIN_ID.as_bytes()]),
            nodes,
            queue: BinaryHeap::new(),
            events: HashMap::new(),
            next_event: 0,
            seq: 0,
            now: 0,
            partition: None,
            proposed: HashSet::new(),
            proposals_at: HashMap::new(),
            relayed: HashSet::new(),
            shown: HashMap::new(),
            verified: HashSet::new(),
            held: vec![],
            decisions: BTreeMap::new(),
            first_decided_at: BTreeMap::new(),
            stable: None,
            down: 0,
            outcome: Outcome {
                seed,
                violations: vec![],
                max_round_after_gst: 0,
                messages_delivered: 0,
                refused: 0,
                evidence: 0,
                end_ms: 0,
                heights: 0,
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

    fn honest_nodes(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|&i| self.honest(i))
    }

    fn lies(&self, node: usize) -> Option<Lies> {
        match self.nodes[node].role {
            Role::Byzantine(lies) => Some(lies),
            _ => None,
        }
    }

    fn run(mut self) -> Outcome {
        self.plan_faults();
        for i in 0..self.nodes.len() {
            if self.nodes[i].role != Role::Silent {
                self.boot(i);
            }
        }
        while let Some(Reverse((at, _, id))) = self.queue.pop() {
            let deadline = self.stable.map_or(u64::MAX, |s| s.at + LIVENESS_WINDOW_MS);
            if at > deadline || self.done() {
                break;
            }
            self.now = at;
            let event = self.events.remove(&id).expect("queued event exists");
            self.dispatch(event);
        }
        self.finish()
    }

    /// The height every honest validator must reach.
    fn target(&self) -> u64 {
        let after = self
            .stable
            .map_or(u64::MAX, |s| s.height + self.sc.heights_after_stable);
        self.sc.heights.max(after)
    }

    fn done(&self) -> bool {
        self.stable.is_some()
            && self.down == 0
            && self
                .honest_nodes()
                .all(|i| self.nodes[i].disk.chain.len() as u64 >= self.target())
    }

    fn plan_faults(&mut self) {
        let gst = self.sc.gst_ms;
        self.schedule(gst, Event::Gst);
        for crash in self.sc.crashes.clone() {
            if let CrashAt::Time(at) = crash.at {
                self.schedule(
                    at,
                    Event::Crash {
                        node: crash.node,
                        down_ms: crash.down_ms,
                    },
                );
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
            Event::Crash { node, down_ms } => self.crash(node, down_ms),
            Event::Restart { node } => {
                self.nodes[node].epoch += 1;
                self.down -= 1;
                self.boot(node);
                if self.now >= self.sc.gst_ms {
                    self.mark_stable();
                }
            }
            Event::SyncReply { to, from, height } => self.sync_reply(to, from, height),
            Event::Partition { groups } => self.partition = Some(groups),
            Event::Heal => self.partition = None,
            Event::Gst => {
                self.partition = None;
                self.mark_stable();
                for (from, to, msg) in std::mem::take(&mut self.held) {
                    self.send(from, to, msg);
                }
            }
        }
    }

    /// The network is stable from now on unless another crash comes: note where the honest
    /// validators are.
    fn mark_stable(&mut self) {
        let states: Vec<(u64, u32)> = self
            .honest_nodes()
            .filter_map(|i| self.nodes[i].driver.as_ref())
            .map(|d| (d.consensus().height(), d.consensus().round()))
            .collect();
        let top = states.iter().map(|s| s.0).max().unwrap_or(1);
        self.stable = Some(Stable {
            at: self.now,
            round: states
                .iter()
                .filter(|s| s.0 == top)
                .map(|s| s.1)
                .max()
                .unwrap_or(0),
            height: top - 1,
        });
    }

    fn crash(&mut self, node: usize, down_ms: u64) {
        if self.nodes[node].driver.take().is_none() {
            return;
        }
        self.nodes[node].epoch += 1;
        self.down += 1;
        self.schedule(self.now + down_ms.max(1), Event::Restart { node });
    }

    fn deliver(&mut self, to: usize, from: usize, msg: Message) {
        let Some(driver) = self.nodes[to].driver.as_ref() else {
            return;
        };
        self.outcome.messages_delivered += 1;
        let height = driver.consensus().height();
        // Through the node's encoding: a body that does not match its header is refused here.
        let msg = match &msg {
            Message::Proposal(_) => match encoding::decode::<Message>(&encoding::encode(&msg)) {
                Ok(m) => m,
                Err(_) => {
                    self.outcome.refused += 1;
                    return;
                }
            },
            Message::Vote(_) => msg,
        };
        if msg.height() > height && !self.nodes[to].sync_pending {
            // Someone is ahead: fetch the block we miss from them.
            self.nodes[to].sync_pending = true;
            let at = self.now + self.link_delay();
            self.schedule(at, Event::SyncReply { to, from, height });
        }
        if let Message::Proposal(p) = &msg
            && self.lies(to).is_some_and(|l| l.tamper_relay)
            && msg.signer() != self.keys[self.nodes[to].key_index].public()
            && self.relayed.insert(p.proposal.block.hash())
        {
            adversary::relay_tampered(self, to, p);
        }
        let input = match msg {
            Message::Proposal(p) => Input::Proposal(*p),
            Message::Vote(v) => Input::Vote(v),
        };
        self.input(to, input);
    }

    fn sync_reply(&mut self, to: usize, from: usize, height: u64) {
        self.nodes[to].sync_pending = false;
        if self.lies(from).is_some_and(|l| l.quit_at_gst) && self.now >= self.sc.gst_ms {
            return;
        }
        let Some((mut block, certificate)) = self.nodes[from]
            .disk
            .chain
            .get(height as usize - 1)
            .cloned()
        else {
            return;
        };
        if self.lies(from).is_some_and(|l| l.tamper_sync) {
            block = app::tamper(&block, &self.accounts);
        }
        let Ok(block) = encoding::decode::<Block>(&encoding::encode(&block)) else {
            self.outcome.refused += 1;
            return;
        };
        let current = self.nodes[to]
            .driver
            .as_ref()
            .map(|d| d.consensus().height());
        if current == Some(height) {
            self.input(to, Input::SyncedBlock { block, certificate });
        }
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
            let down = self.crash_after_persist(i).map_or(1, |c| c.down_ms);
            self.crash(i, down);
        }
    }

    fn crash_after_persist(&self, i: usize) -> Option<Crash> {
        let n = self.nodes[i].persists;
        self.sc
            .crashes
            .iter()
            .find(|c| c.node == i && c.at == CrashAt::Persist(n))
            .copied()
    }

    fn tip_hash(&self, i: usize) -> Hash {
        self.nodes[i]
            .disk
            .chain
            .last()
            .map_or(self.genesis_hash, |(b, _)| b.hash())
    }

    fn build_block(&mut self, i: usize, height: u64, round: u32) -> Block {
        let prev = self.tip_hash(i);
        let proposer = self.keys[self.nodes[i].key_index].public();
        let state = &self.nodes[i].disk.state;
        self.accounts.build(
            &mut self.rng,
            state,
            height,
            round,
            prev,
            proposer,
            self.now,
        )
    }

    fn decided(&mut self, i: usize, block: Block, certificate: CommitCertificate) {
        let height = block.header.height;
        let execution = self.nodes[i]
            .disk
            .state
            .execute(&ledger::ChainRules::open(CHAIN_ID), &block.txs);
        if self.honest(i) {
            self.check_decision(i, &block, &certificate);
            self.nodes[i].commit_times.push(self.now);
            self.first_decided_at.entry(height).or_insert(self.now);
        }
        // A decided block that cannot execute is a validity violation (checked above for the
        // honest); the node can go no further.
        let Ok(execution) = execution else {
            return;
        };
        // Committing is synchronous and durable in the simulation.
        let honest = self.honest(i);
        let disk = &mut self.nodes[i].disk;
        disk.state.apply(&execution);
        disk.chain.push((block, certificate));
        let supply = disk.state.total_supply();
        if honest && supply != self.accounts.supply() {
            self.outcome.violations.push(Violation::Supply {
                node: i,
                height,
                supply,
            });
        }
    }

    fn link_delay(&mut self) -> u64 {
        if self.now >= self.sc.gst_ms {
            self.rng.range(1, self.sc.delta_ms)
        } else {
            self.rng.range(1, self.sc.max_delay_ms)
        }
    }

    fn cut(&self, from: usize, to: usize, msg: &Message) -> bool {
        let kind = match msg {
            Message::Proposal(_) => kinds::PROPOSAL,
            Message::Vote(v) if v.vote.kind == ledger::VoteKind::Prevote => kinds::PREVOTE,
            Message::Vote(_) => kinds::PRECOMMIT,
        };
        let (h, r) = (msg.height(), msg.round());
        self.sc.cuts.iter().any(|c| {
            self.now < c.until_ms.min(self.sc.gst_ms)
                && (c.heights.0..=c.heights.1).contains(&h)
                && (c.rounds.0..=c.rounds.1).contains(&r)
                && c.kinds & kind != 0
                && c.from >> from & 1 == 1
                && c.to >> to & 1 == 1
        })
    }

    /// Put one message on the wire from `from` to `to`: the network's faults apply.
    fn send(&mut self, from: usize, to: usize, msg: Message) {
        if self.now < self.sc.gst_ms {
            if let Some(groups) = &self.partition
                && groups[from] != groups[to]
            {
                return;
            }
            if self.cut(from, to, &msg) || self.rng.chance(self.sc.drop_prob) {
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

    fn note_proposal(&mut self, msg: &Message) {
        if let Message::Proposal(p) = msg {
            let hash = p.proposal.block.hash();
            self.proposed.insert(hash);
            let at = self
                .proposals_at
                .entry((msg.height(), msg.round()))
                .or_default();
            if !at.contains(&hash) {
                at.push(hash);
            }
        }
    }

    fn broadcast(&mut self, from: usize, msg: Message) {
        self.note_proposal(&msg);
        let own = msg.signer() == self.keys[self.nodes[from].key_index].public();
        let sends = match self.lies(from) {
            Some(lies) if own => adversary::sends(self, from, lies, msg),
            _ => (0..self.nodes.len())
                .filter(|&to| to != from)
                .map(|to| (to, msg.clone()))
                .collect(),
        };
        for (to, m) in sends {
            self.send(from, to, m);
        }
    }

    fn finish(mut self) -> Outcome {
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
        self.outcome.heights = self
            .honest_nodes()
            .map(|i| self.nodes[i].disk.chain.len() as u64)
            .min()
            .unwrap_or(0);
        let target = self.target();
        for i in self.honest_nodes().collect::<Vec<_>>() {
            let reached = self.nodes[i].disk.chain.len() as u64;
            if reached < target {
                self.outcome.violations.push(Violation::Liveness {
                    node: i,
                    height_reached: reached,
                    target,
                });
            }
        }
        if let Some(stable) = self.stable {
            self.check_rounds(stable);
            self.check_wedges(stable);
        }
        self.outcome
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
        let i = self.node;
        let node = &mut sim.nodes[i];
        node.disk.log.retain(|r| r.height == record.height);
        node.disk.log.push(record.clone());
        node.persists += 1;
        let (key, honest) = (node.key_index, node.role == Role::Honest);
        let found = sim.monitor.signed(i, key, honest, &record.message);
        sim.outcome.violations.extend(found);
        // Signed is proposed, even if a crash keeps it from going out: a validator that is a
        // quorum on its own decides its block before broadcasting it.
        sim.note_proposal(&record.message);
        if sim.crash_after_persist(i).is_some() {
            // Durable, but the node dies before sending it.
            return Err(Crashed);
        }
        Ok(())
    }

    fn validate(&mut self, height: u64, block: &Block) -> Result<bool, Crashed> {
        let sim = &mut *self.sim;
        let tip = sim.tip_hash(self.node);
        let state = &sim.nodes[self.node].disk.state;
        Ok(app::judge(state, &tip, height, block, &mut sim.verified))
    }

    fn commit(&mut self, block: Block, certificate: CommitCertificate) -> Result<(), Crashed> {
        self.sim.decided(self.node, block, certificate);
        Ok(())
    }
}
