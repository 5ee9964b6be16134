//! `lantau testnet up` for a testnet of containers (`init --docker`): the engine starts them
//! from the testnet's docker-compose.yml and this waits for blocks; the rest (status, logs,
//! clients) is unchanged.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use testnet::docker::DockerNet;
use testnet::manifest::Manifest;

use crate::runtime;

pub fn up(
    dir: &Path,
    manifest: &Manifest,
    net: &DockerNet,
    binary: &Path,
    timeout: Duration,
) -> Result<()> {
    let started = Instant::now();
    let image = testnet::docker::up(dir, net, binary)?;
    eprintln!(
        "{} containers started from image {image} on network {} ({}) in {:.1} s; waiting for blocks",
        manifest.nodes.len(),
        net.project,
        net.subnet(),
        started.elapsed().as_secs_f64()
    );
    runtime()?.block_on(testnet::docker::wait_until_committing(
        manifest,
        &[],
        2,
        timeout,
    ))?;
    eprintln!(
        "{} validators are up and committing blocks ({:.1} s after `up`)",
        manifest.nodes.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
