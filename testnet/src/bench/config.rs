//! What a benchmark run does: flags or a TOML scenario file (like CometBFT's e2e manifests).
//!
//! ```toml
//! validators = [4, 7]        # a sweep over node counts ...
//! rates = [2000, 8000]       # ... and input rates (tx/s); every pair is one run
//! duration_secs = 20         # measured window, after
//! warmup_secs = 5            # a warm-up whose commits are not counted
//! tx_size = 150              # bytes per encoded transfer (memo padding); 0 = smallest
//! latency_cap_ms = 1500      # "peak throughput" = best point whose e2e p99 is under this
//! offline = [3]              # validators never started (f down from the start)
//! latency_ms = 20            # added to every link, each way (TCP proxies) ...
//! jitter_ms = 5              # ... plus up to this much, uniformly
//! index_account_history = false  # validators skip the account history index
//!
//! engine = "docker"          # validators as containers (default "processes")
//! cpus_per_validator = 0.5   # docker only: a CPU limit per container
//!
//! [[faults]]                 # at a time after the load starts
//! at_secs = 8
//! kind = "kill"              # kill | stop | restart | pause | resume | partition | heal
//! nodes = [2]
//! ```

use serde::{Deserialize, Serialize};

use crate::TestnetError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BenchConfig {
    pub validators: Vec<usize>,
    pub rates: Vec<u64>,
    pub duration_secs: u64,
    pub warmup_secs: u64,
    /// Encoded transfer size; the memo pads up to it.
    pub tx_size: usize,
    /// Distinct sending accounts (nonces run in sequence per account).
    pub senders: usize,
    /// The load generator sends one batch per validator every this many ms.
    pub burst_ms: u64,
    pub latency_cap_ms: u64,
    /// How long to wait after the load for accepted transactions to commit.
    pub drain_secs: u64,
    pub block_interval_ms: u64,
    pub max_block_txs: usize,
    /// Validators' mempool bound; 0 = the node's default.
    pub mempool_max_txs: usize,
    /// Validators' admission bound by drain time (ms; 0 = off); unset = the node's default.
    pub mempool_max_drain_ms: Option<u64>,
    /// Validators index each account's transfers (`index_account_history`), as by default.
    pub index_account_history: bool,
    /// Runs of each point, for a mean and a 95% interval.
    pub repeat: usize,
    pub offline: Vec<usize>,
    pub latency_ms: u64,
    pub jitter_ms: u64,
    pub faults: Vec<Fault>,
    /// Validators that misbehave for the whole run (`lantau start --byzantine`).
    pub byzantine: Vec<ByzantineNode>,
    /// Where the validators run: processes on this machine, or containers (each its own
    /// host on a Docker network; faults go to the engine).
    pub engine: Engine,
    /// With the docker engine: CPUs each validator's container may use (`cpus:`).
    pub cpus_per_validator: Option<f64>,
}

/// `engine = "processes"` (the default) or `"docker"`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    #[default]
    Processes,
    Docker,
}

/// `[[byzantine]] node = 3, behaviour = "equivocate"`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ByzantineNode {
    pub node: usize,
    pub behaviour: String,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            validators: vec![4],
            rates: vec![1000],
            duration_secs: 20,
            warmup_secs: 5,
            tx_size: 0,
            senders: 1000,
            burst_ms: 50,
            latency_cap_ms: 1500,
            drain_secs: 15,
            block_interval_ms: 25,
            max_block_txs: 10_000,
            mempool_max_txs: 0,
            mempool_max_drain_ms: None,
            index_account_history: true,
            repeat: 1,
            offline: vec![],
            latency_ms: 0,
            jitter_ms: 0,
            faults: vec![],
            byzantine: vec![],
            engine: Engine::Processes,
            cpus_per_validator: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// SIGKILL: a crash.
    Kill,
    /// SIGTERM: a clean stop.
    Stop,
    /// Start again (after kill or stop).
    Restart,
    /// SIGSTOP: frozen, connections open.
    Pause,
    /// SIGCONT.
    Resume,
    /// Cut `nodes` off from the rest, both ways.
    Partition,
    /// Undo every partition.
    Heal,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Seconds after the load starts.
    pub at_secs: f64,
    pub kind: FaultKind,
    #[serde(default)]
    pub nodes: Vec<usize>,
}

impl BenchConfig {
    pub fn from_toml(text: &str) -> Result<Self, TestnetError> {
        toml::from_str(text).map_err(|e| TestnetError::Usage(format!("scenario: {e}")))
    }

    /// Proxies sit on every link when a run needs link faults or added latency.
    pub fn needs_proxies(&self) -> bool {
        // Containers are partitioned by the engine (`docker_links::partition`), not by proxies.
        self.engine == Engine::Processes && self.needs_link_faults()
    }

    fn needs_link_faults(&self) -> bool {
        self.latency_ms > 0
            || self.jitter_ms > 0
            || self.faults.iter().any(|f| f.kind == FaultKind::Partition)
    }

    pub fn validate(&self) -> Result<(), TestnetError> {
        let usage = |m: String| Err(TestnetError::Usage(m));
        if self.validators.is_empty() || self.rates.is_empty() {
            return usage("give at least one validator count and one rate".into());
        }
        if self.duration_secs == 0 {
            return usage("duration_secs must be at least 1".into());
        }
        if self.repeat == 0 {
            return usage("repeat must be at least 1".into());
        }
        if self.engine == Engine::Docker && (self.latency_ms > 0 || self.jitter_ms > 0) {
            return usage(
                "added link latency goes through the process engine's proxies; the docker engine runs links as they are".into(),
            );
        }
        if self.cpus_per_validator.is_some() && self.engine != Engine::Docker {
            return usage("--cpus-per-validator limits containers: give --engine docker".into());
        }
        if self
            .cpus_per_validator
            .is_some_and(|c| c.is_nan() || c <= 0.0)
        {
            return usage("--cpus-per-validator must be positive".into());
        }
        if self.senders == 0 || self.burst_ms == 0 {
            return usage("senders and burst_ms must be positive".into());
        }
        for &n in &self.validators {
            if n == 0 {
                return usage("a testnet needs at least one validator".into());
            }
            let liars: Vec<usize> = self.byzantine.iter().map(|b| b.node).collect();
            let named = self
                .offline
                .iter()
                .chain(self.faults.iter().flat_map(|f| &f.nodes))
                .chain(&liars);
            if let Some(bad) = named.into_iter().find(|&&i| i >= n) {
                return usage(format!(
                    "node {bad} is named in offline/faults/byzantine, but the run with {n} validators has nodes 0-{}",
                    n - 1
                ));
            }
            let mut faulty: Vec<usize> = self.offline.iter().chain(&liars).copied().collect();
            faulty.sort_unstable();
            faulty.dedup();
            if !liars.is_empty() && faulty.len() * 3 >= n {
                return usage(format!(
                    "{} of {n} validators offline or Byzantine is more than f = {}: BFT promises nothing then",
                    faulty.len(),
                    (n - 1) / 3
                ));
            }
            if self.offline.len() * 3 >= n {
                return usage(format!(
                    "{} of {n} validators offline leaves no quorum (more than two thirds must run)",
                    self.offline.len()
                ));
            }
            if observer(self, n).is_none() {
                return usage(
                    "every validator is offline or faulted; none can observe commits".into(),
                );
            }
        }
        for b in &self.byzantine {
            if let Err(e) = b.behaviour.parse::<interface::byzantine::Behaviour>() {
                return usage(format!("byzantine node {}: {e}", b.node));
            }
        }
        for f in &self.faults {
            let needs_nodes = !matches!(f.kind, FaultKind::Heal);
            if needs_nodes && f.nodes.is_empty() {
                return usage(format!(
                    "fault {:?} at {} s names no nodes",
                    f.kind, f.at_secs
                ));
            }
            if !(0.0..=(self.warmup_secs + self.duration_secs) as f64).contains(&f.at_secs) {
                return usage(format!(
                    "fault at {} s is outside the run (0 to {} s)",
                    f.at_secs,
                    self.warmup_secs + self.duration_secs
                ));
            }
        }
        Ok(())
    }
}

/// The node whose commit times are recorded: the first one no fault touches and that lies
/// about nothing.
pub fn observer(config: &BenchConfig, validators: usize) -> Option<usize> {
    (0..validators).find(|i| {
        !config.offline.contains(i)
            && !config.faults.iter().any(|f| f.nodes.contains(i))
            && !config.is_byzantine(*i)
    })
}

impl BenchConfig {
    pub fn is_byzantine(&self, node: usize) -> bool {
        self.byzantine.iter().any(|b| b.node == node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_file_parses_and_is_checked() {
        let text = r#"
            validators = [4]
            rates = [500, 1000]
            duration_secs = 5
            offline = [3]
            [[faults]]
            at_secs = 2
            kind = "partition"
            nodes = [2]
            [[faults]]
            at_secs = 4
            kind = "heal"
        "#;
        let c = BenchConfig::from_toml(text).unwrap();
        assert_eq!(c.rates, [500, 1000]);
        assert_eq!(c.faults[0].kind, FaultKind::Partition);
        assert!(c.needs_proxies());
        c.validate().unwrap();
        assert_eq!(observer(&c, 4), Some(0));

        let typo = BenchConfig::from_toml("rate = [5]");
        assert!(typo.is_err());
        // The example scenarios shipped in the repository stay valid.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let scenario =
                BenchConfig::from_toml(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            scenario
                .validate()
                .unwrap_or_else(|e| panic!("{path:?}: {e}"));
            seen += 1;
        }
        assert!(seen >= 3);
        let too_many_down = BenchConfig {
            offline: vec![2, 3],
            ..c.clone()
        };
        assert!(too_many_down.validate().is_err());
        let out_of_range = BenchConfig {
            offline: vec![4],
            ..c
        };
        assert!(out_of_range.validate().is_err());
    }
}
