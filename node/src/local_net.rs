//! Several validators in one process, wired through an in-memory network with a fixed link
//! delay, in real time. Each validator has its own consensus state machine, application and
//! RocksDB store. Used by `lantau demo` and by tests; the networked node uses the same
//! [`Application`] and [`Consensus`] pair.
//!
//! Each validator's signing log is persisted in its store before the message leaves, so a
//! local net stopped and started again on the same directory resumes safely.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::now_ms;

use consensus::{Config, Consensus, Driver, Host, Input, Message, Output, Timeout, Timeouts};
use ledger::{Block, CommitCertificate, Genesis, Hash, Keypair};

use crate::app::{AppConfig, AppError, Application};
use crate::refusal::Refusal;

#[derive(Debug, Clone)]
pub struct LocalNetConfig {
    pub link_delay: Duration,
    /// Least time between a commit and the next proposal, so blocks collect transactions.
    pub block_interval: Duration,
    pub timeouts: Timeouts,
    pub app: AppConfig,
}

impl Default for LocalNetConfig {
    fn default() -> Self {
        Self {
            link_delay: Duration::from_millis(2),
            block_interval: Duration::from_millis(200),
            timeouts: Timeouts::default(),
            app: AppConfig {
                verify_threads: 1,
                ..AppConfig::default()
            },
        }
    }
}

enum Event {
    Deliver { to: usize, msg: Message },
    Timeout { to: usize, timeout: Timeout },
    Build { to: usize, height: u64, round: u32 },
}

struct Node {
    driver: Driver,
    app: Application,
    key: Keypair,
    last_commit: Instant,
}

/// A committed block as one validator saw it.
pub struct Committed<'a> {
    pub validator: usize,
    pub block: &'a Block,
    pub certificate: &'a CommitCertificate,
    pub app: &'a Application,
}

/// Bring every store up to the highest: a net stopped between one validator's commit and
/// another's restarts with validators a height apart, and those behind could never decide a
/// height the others left (a networked node syncs blocks from its peers; here they are all
/// in this process, so the blocks and their certificates are copied).
fn catch_up(apps: &mut [Application]) -> Result<(), AppError> {
    let tips = apps
        .iter()
        .map(|a| a.tip().map(|t| t.height))
        .collect::<Result<Vec<_>, _>>()?;
    let Some((ahead, &top)) = tips.iter().enumerate().max_by_key(|(_, h)| **h) else {
        return Ok(());
    };
    for (i, &tip) in tips.iter().enumerate() {
        for height in tip + 1..=top {
            let store = apps[ahead].store();
            let (Some(block), Some(certificate)) =
                (store.block(height)?, store.certificate(height)?)
            else {
                break;
            };
            apps[i].commit(&block, &certificate)?;
        }
    }
    Ok(())
}

pub struct LocalNet {
    config: LocalNetConfig,
    nodes: Vec<Node>,
    queue: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    events: Vec<Option<Event>>,
    seq: u64,
}

impl LocalNet {
    /// Open one store per validator under `dir/validator-<i>` and start consensus.
    /// `keys[i]` must be the key of `genesis.validators[i]`.
    pub fn start(
        dir: &Path,
        genesis: &Genesis,
        keys: Vec<Keypair>,
        config: LocalNetConfig,
    ) -> Result<Self, AppError> {
        let validators = genesis.validator_set().expect("genesis was validated");
        let mut apps = keys
            .iter()
            .enumerate()
            .map(|(i, _)| {
                Application::open(
                    &dir.join(format!("validator-{i}")),
                    genesis,
                    config.app.clone(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        catch_up(&mut apps)?;
        let mut nodes = Vec::new();
        for (key, app) in keys.into_iter().zip(apps) {
            let height = app.tip()?.height + 1;
            let consensus_config = Config {
                timeouts: config.timeouts.clone(),
                ..Config::new(genesis.chain_id.clone())
            };
            let signer = Keypair::from_secret(key.secret_bytes());
            // What this validator signed before a restart binds it now, as in a real node.
            let log = app.signing_log()?;
            let driver = Driver::new(Consensus::new(
                consensus_config,
                validators.clone(),
                Some(signer),
                height,
                log,
            ));
            nodes.push(Node {
                driver,
                app,
                key,
                last_commit: Instant::now(),
            });
        }
        let mut net = Self {
            config,
            nodes,
            queue: BinaryHeap::new(),
            events: Vec::new(),
            seq: 0,
        };
        for i in 0..net.nodes.len() {
            let node = &mut net.nodes[i];
            let out = node.driver.start(&mut LocalHost {
                validator: i,
                app: &mut node.app,
                last_commit: &mut node.last_commit,
                on_commit: &mut |_| {},
            });
            net.after(i, out);
        }
        Ok(net)
    }

    pub fn validators(&self) -> usize {
        self.nodes.len()
    }

    pub fn app(&self, i: usize) -> &Application {
        &self.nodes[i].app
    }

    /// Submit a transaction to validator `to`; it is gossiped to the others.
    pub fn submit(&mut self, to: usize, raw: &[u8]) -> Result<Hash, Refusal> {
        let result = admit(&mut self.nodes[to].app, raw);
        if result.is_ok() {
            for (i, node) in self.nodes.iter_mut().enumerate() {
                if i != to {
                    // Each validator admits (and verifies) it itself, as over the network.
                    let _ = admit(&mut node.app, raw);
                }
            }
        }
        result
    }

    /// Process events until `deadline`, calling `on_commit` for every block any validator
    /// commits.
    pub fn run_until(&mut self, deadline: Instant, on_commit: &mut dyn FnMut(Committed<'_>)) {
        loop {
            let Some(Reverse((at, _, id))) = self.queue.peek().copied() else {
                return;
            };
            let now = Instant::now();
            if at > deadline {
                if deadline > now {
                    std::thread::sleep(deadline - now);
                }
                return;
            }
            if at > now {
                std::thread::sleep(at - now);
            }
            self.queue.pop();
            let event = self.events[id].take().expect("each event runs once");
            let (to, input) = match event {
                Event::Deliver { to, msg } => (
                    to,
                    match msg {
                        Message::Proposal(p) => Input::Proposal(*p),
                        Message::Vote(v) => Input::Vote(v),
                    },
                ),
                Event::Timeout { to, timeout } => (to, Input::Timeout(timeout)),
                Event::Build { to, height, round } => {
                    let node = &mut self.nodes[to];
                    let block = node
                        .app
                        .build_block(height, round, node.key.public(), now_ms())
                        .expect("reading the tip to build on");
                    (
                        to,
                        Input::BlockToPropose {
                            height,
                            round,
                            block,
                        },
                    )
                }
            };
            let node = &mut self.nodes[to];
            let result = node.driver.handle(
                input,
                &mut LocalHost {
                    validator: to,
                    app: &mut node.app,
                    last_commit: &mut node.last_commit,
                    on_commit,
                },
            );
            if let Some(reason) = node.driver.halted() {
                // In-process nets are for demos and tests: a validator that cannot write is a
                // broken environment, not a fault to simulate.
                panic!("validator {to} halted: {reason}");
            }
            if let Ok(out) = result {
                self.after(to, out);
            }
        }
    }

    fn schedule(&mut self, at: Instant, event: Event) {
        self.seq += 1;
        self.events.push(Some(event));
        self.queue
            .push(Reverse((at, self.seq, self.events.len() - 1)));
    }

    fn after(&mut self, i: usize, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Broadcast(msg) => {
                    let at = Instant::now() + self.config.link_delay;
                    for to in (0..self.nodes.len()).filter(|&to| to != i) {
                        self.schedule(
                            at,
                            Event::Deliver {
                                to,
                                msg: msg.clone(),
                            },
                        );
                    }
                }
                Output::ScheduleTimeout { timeout, after_ms } => {
                    self.schedule(
                        Instant::now() + Duration::from_millis(after_ms),
                        Event::Timeout { to: i, timeout },
                    );
                }
                Output::BuildBlock { height, round } => {
                    let at = (self.nodes[i].last_commit + self.config.block_interval)
                        .max(Instant::now());
                    self.schedule(
                        at,
                        Event::Build {
                            to: i,
                            height,
                            round,
                        },
                    );
                }
                Output::Evidence(_) => {}
            }
        }
    }
}

/// One in-process validator's machine, as its driver sees it.
struct LocalHost<'a> {
    validator: usize,
    app: &'a mut Application,
    last_commit: &'a mut Instant,
    on_commit: &'a mut dyn FnMut(Committed<'_>),
}

impl Host for LocalHost<'_> {
    type Error = AppError;

    fn persist(&mut self, record: &consensus::SignRecord) -> Result<(), AppError> {
        Ok(self.app.persist_signing(record)?)
    }

    fn validate(&mut self, _height: u64, block: &Block) -> Result<bool, AppError> {
        Ok(self.app.validate(block)?.is_ok())
    }

    fn commit(&mut self, block: Block, certificate: CommitCertificate) -> Result<(), AppError> {
        self.app.commit(&block, &certificate)?;
        *self.last_commit = Instant::now();
        (self.on_commit)(Committed {
            validator: self.validator,
            block: &block,
            certificate: &certificate,
            app: self.app,
        });
        Ok(())
    }
}

/// The node's one admission path: verify, then admit.
fn admit(app: &mut Application, raw: &[u8]) -> Result<Hash, Refusal> {
    let verified = app.verifier().admit(&[raw]);
    app.admit_verified(verified)
        .pop()
        .expect("one result per transaction")
}

#[cfg(test)]
mod tests;
