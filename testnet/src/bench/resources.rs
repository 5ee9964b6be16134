//! How much of the machine a point took: CPU time and peak memory of every validator and of
//! the load generator (this process), so a reader sees what the client cost the validators.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::manifest::Manifest;
use crate::processes;

/// One process over a point.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProcessUse {
    pub name: String,
    /// User plus system CPU seconds: a validator's whole life (the point's testnet), the load
    /// generator's from the start of the load to the end of the drain.
    pub cpu_secs: f64,
    /// Peak resident memory, MiB (the load generator's over its whole run, all points).
    pub peak_rss_mib: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Resources {
    pub validators: Vec<ProcessUse>,
    pub load_generator: ProcessUse,
}

impl Resources {
    pub fn validators_cpu_secs(&self) -> f64 {
        self.validators.iter().map(|v| v.cpu_secs).sum()
    }

    /// The load generator's share of all the CPU time the point used.
    pub fn load_generator_share(&self) -> f64 {
        let all = self.validators_cpu_secs() + self.load_generator.cpu_secs;
        if all > 0.0 {
            self.load_generator.cpu_secs / all
        } else {
            0.0
        }
    }

    pub fn max_validator_rss_mib(&self) -> u64 {
        self.validators
            .iter()
            .map(|v| v.peak_rss_mib)
            .max()
            .unwrap_or(0)
    }
}

/// Read the running validators of `manifest` and this process (CPU since `cpu_at_load_start`).
pub fn measure(dir: &Path, manifest: &Manifest, cpu_at_load_start: f64) -> Resources {
    let validators = manifest
        .nodes
        .iter()
        .filter_map(|node| {
            // A container's validator is a process of this machine too: its pid from the engine.
            let pid = match &manifest.docker {
                Some(net) => crate::docker::container_pid(net, &node.name).ok()? as i32,
                None => processes::running_pid(dir, node)?,
            };
            let usage = interface::procfs::usage(Some(pid))?;
            Some(ProcessUse {
                name: node.name.clone(),
                cpu_secs: usage.cpu_secs,
                peak_rss_mib: usage.peak_rss_bytes >> 20,
            })
        })
        .collect();
    let me = interface::procfs::usage(None).unwrap_or_default();
    Resources {
        validators,
        load_generator: ProcessUse {
            name: "load generator".into(),
            cpu_secs: (me.cpu_secs - cpu_at_load_start).max(0.0),
            peak_rss_mib: me.peak_rss_bytes >> 20,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_totals() {
        let r = Resources {
            validators: vec![
                ProcessUse {
                    name: "node0".into(),
                    cpu_secs: 3.0,
                    peak_rss_mib: 100,
                },
                ProcessUse {
                    name: "node1".into(),
                    cpu_secs: 5.0,
                    peak_rss_mib: 140,
                },
            ],
            load_generator: ProcessUse {
                name: "load generator".into(),
                cpu_secs: 2.0,
                peak_rss_mib: 50,
            },
        };
        assert_eq!(r.validators_cpu_secs(), 8.0);
        assert_eq!(r.load_generator_share(), 0.2);
        assert_eq!(r.max_validator_rss_mib(), 140);
        assert_eq!(Resources::default().load_generator_share(), 0.0);
    }
}
