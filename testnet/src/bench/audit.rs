//! After the load, before the testnet stops: did the honest validators stay honest-safe? They
//! must hold the same block at every height, never have committed a transfer whose signature
//! does not verify, never have panicked, and have stayed within a memory bound, whatever the
//! Byzantine validators did.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::manifest::Manifest;
use crate::processes;

/// Heights compared across validators at most (the most recent ones).
const MAX_AUDITED_HEIGHTS: u64 = 400;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Audit {
    /// Honest validators audited.
    pub validators: usize,
    /// Heights compared (each on every audited validator).
    pub heights: u64,
    /// Heights at which two honest validators hold different blocks (must be 0).
    pub divergent_heights: u64,
    /// Committed transfers whose signature does not verify, on any honest validator (must
    /// be 0: a forged body slipped past the checks).
    pub unverifiable_txs: u64,
    /// Honest validators whose log shows a panic.
    pub panicked: usize,
    /// Honest validators that halted (fail-stop) during the run.
    pub halted: usize,
    /// Highest peak resident memory of an honest validator, MiB (Linux `VmHWM`).
    pub max_peak_rss_mib: u64,
}

impl Audit {
    pub fn is_clean(&self) -> bool {
        self.divergent_heights == 0
            && self.unverifiable_txs == 0
            && self.panicked == 0
            && self.halted == 0
    }
}

/// Audit the `honest` validators of a running testnet in `dir`.
pub async fn run(dir: &Path, manifest: &Manifest, honest: &[usize]) -> Audit {
    let mut audit = Audit {
        validators: honest.len(),
        ..Audit::default()
    };
    // Validators down at the end (a fault killed them) are not audited.
    let mut clients = Vec::new();
    let mut tips = Vec::new();
    for &i in honest {
        let c = Client::new(&manifest.nodes[i].api);
        if let Ok(s) = c.status().await {
            tips.push(s.committed_height);
            audit.halted += usize::from(s.halted.is_some());
            clients.push(c);
        }
    }
    audit.validators = clients.len();
    let top = tips.iter().copied().min().unwrap_or(0);
    let from = top.saturating_sub(MAX_AUDITED_HEIGHTS - 1).max(1);
    for height in from..=top {
        audit.heights += 1;
        let mut first = None;
        for c in &clients {
            let Ok(view) = c.block(Some(height)).await else {
                continue;
            };
            let hash = view.block.hash();
            match first {
                None => {
                    // Signatures are checked on the first validator that answers; the others
                    // hold the same block, or the divergence is counted below.
                    first = Some(hash);
                    audit.unverifiable_txs += view
                        .block
                        .txs
                        .iter()
                        .filter(|tx| tx.verify().is_err())
                        .count() as u64;
                }
                Some(h) if h != hash => {
                    audit.divergent_heights += 1;
                    break;
                }
                Some(_) => {}
            }
        }
    }
    for &i in honest {
        let node = &manifest.nodes[i];
        let log = processes::log_path(dir, node);
        if std::fs::read_to_string(&log).is_ok_and(|text| text.contains("panicked")) {
            audit.panicked += 1;
        }
        if let Some(pid) = processes::running_pid(dir, node) {
            audit.max_peak_rss_mib = audit.max_peak_rss_mib.max(peak_rss_mib(pid));
        }
    }
    audit
}

/// A process's peak resident set, MiB; 0 where /proc does not say.
fn peak_rss_mib(pid: i32) -> u64 {
    interface::procfs::usage(Some(pid)).map_or(0, |u| u.peak_rss_bytes >> 20)
}
