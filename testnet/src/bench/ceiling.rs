//! The physical ceiling a run is measured against: every validator verifies every transfer's
//! signature once, so on one machine the committed rate cannot pass
//! `cores x raw / validators`, where `raw` is what one core verifies per second with
//! `ed25519_dalek::verify_batch` in chunks of `VERIFY_CHUNK` on pre-parsed keys (the hot-path
//! bench's "raw batch"). Measured on this machine before the first point, so every peak is
//! a ratio taken in the same window.

use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use ledger::verify::VERIFY_CHUNK;
use serde::{Deserialize, Serialize};

/// The ceiling of one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ceiling {
    /// Signatures one core verified per second, in raw batches.
    pub raw_sigs_per_core_sec: f64,
    pub cores: usize,
    /// The validator count it is shared by (the run's largest).
    pub validators: usize,
    /// `cores x raw / validators`.
    pub tx_per_sec: f64,
}

impl Ceiling {
    pub fn new(raw_sigs_per_core_sec: f64, cores: usize, validators: usize) -> Self {
        Self {
            raw_sigs_per_core_sec,
            cores,
            validators,
            tx_per_sec: cores as f64 * raw_sigs_per_core_sec / validators.max(1) as f64,
        }
    }

    /// Measure raw batch verification on this machine (about `budget` of one core).
    pub fn measure(validators: usize, budget: Duration) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(raw_rate(budget), cores, validators)
    }

    /// The line the terminal, `summary.json` and the report carry.
    pub fn line(&self, peak: Option<f64>) -> String {
        let mut line = format!(
            "ceiling {:.0} tx/s ({} cores x {:.0} raw sig/s / {} validators)",
            self.tx_per_sec, self.cores, self.raw_sigs_per_core_sec, self.validators
        );
        if let Some(peak) = peak {
            line.push_str(&format!(
                "; peak {peak:.0} = {:.2} x ceiling",
                peak / self.tx_per_sec
            ));
        }
        line
    }
}

/// Signatures per second one core checks with `verify_batch`, best of a few rounds.
fn raw_rate(budget: Duration) -> f64 {
    const N: usize = 8 * VERIFY_CHUNK;
    let keys: Vec<SigningKey> = (0..64u8)
        .map(|i| SigningKey::from_bytes(&[i; 32]))
        .collect();
    let messages: Vec<Vec<u8>> = (0..N)
        .map(|i| format!("lantau ceiling {i:08} {}", "x".repeat(120)).into_bytes())
        .collect();
    let signatures: Vec<Signature> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| keys[i % keys.len()].sign(m))
        .collect();
    let verifying: Vec<VerifyingKey> = (0..N)
        .map(|i| keys[i % keys.len()].verifying_key())
        .collect();
    let started = Instant::now();
    let mut best = f64::MAX;
    while started.elapsed() < budget || best == f64::MAX {
        let round = Instant::now();
        for start in (0..N).step_by(VERIFY_CHUNK) {
            let end = start + VERIFY_CHUNK;
            let msgs: Vec<&[u8]> = messages[start..end].iter().map(Vec::as_slice).collect();
            ed25519_dalek::verify_batch(&msgs, &signatures[start..end], &verifying[start..end])
                .expect("signatures made here verify");
        }
        best = best.min(round.elapsed().as_secs_f64());
    }
    N as f64 / best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_is_cores_times_raw_over_validators_and_peaks_are_ratios_of_it() {
        let c = Ceiling::new(80_000.0, 2, 4);
        assert_eq!(c.tx_per_sec, 40_000.0);
        assert_eq!(
            c.line(Some(30_000.0)),
            "ceiling 40000 tx/s (2 cores x 80000 raw sig/s / 4 validators); peak 30000 = 0.75 x ceiling"
        );
        let measured = Ceiling::measure(4, Duration::from_millis(50));
        assert!(measured.raw_sigs_per_core_sec > 1000.0, "{measured:?}");
        assert_eq!(measured.validators, 4);
    }
}
