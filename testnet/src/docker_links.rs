//! Partitions of a docker testnet: links between containers cut and healed from this
//! machine, inside each container's network namespace (the image holds no tools).

use std::process::{Command, Output};

use crate::TestnetError;
use crate::docker::{DockerNet, container_pid, docker_error};
use crate::manifest::Manifest;

/// `ip route` in a container's network namespace, with this machine's `ip` (the image has
/// no tools: it is the binary and its libraries).
fn route(pid: u32, verb: &str, ip: &str) -> Result<Output, std::io::Error> {
    Command::new("nsenter")
        .args([
            "-t",
            &pid.to_string(),
            "-n",
            "ip",
            "route",
            verb,
            "blackhole",
        ])
        .arg(format!("{ip}/32"))
        .output()
}

/// Cut every link between validators of different `groups` (indices into the manifest;
/// every validator in exactly one group): each container drops what it would send to the
/// others' addresses (a blackhole route), so both directions fail and TCP times out as on a
/// real cut. Replaces any earlier partition.
pub fn partition(
    manifest: &Manifest,
    net: &DockerNet,
    groups: &[Vec<usize>],
) -> Result<(), TestnetError> {
    let n = manifest.nodes.len();
    let mut group_of = vec![None; n];
    for (g, members) in groups.iter().enumerate() {
        for &i in members {
            if i >= n || group_of[i].replace(g).is_some() {
                return Err(TestnetError::Usage(format!(
                    "{} is in more than one group (or none such): name each validator once",
                    manifest.nodes.get(i).map_or("?", |v| v.name.as_str())
                )));
            }
        }
    }
    if let Some(i) = group_of.iter().position(Option::is_none) {
        return Err(TestnetError::Usage(format!(
            "{} is in no group: name every validator once, e.g. 0,1|2,3",
            manifest.nodes[i].name
        )));
    }
    heal(manifest, net)?;
    for i in 0..n {
        let pid = container_pid(net, &manifest.nodes[i].name)?;
        for j in (0..n).filter(|&j| group_of[j] != group_of[i]) {
            let out = route(pid, "add", &net.ip(j)).map_err(|e| docker_error("nsenter", e))?;
            if !out.status.success() {
                return Err(docker_error(
                    &format!(
                        "cutting {} from {}",
                        manifest.nodes[i].name, manifest.nodes[j].name
                    ),
                    String::from_utf8_lossy(&out.stderr).trim().to_string(),
                ));
            }
        }
    }
    Ok(())
}

/// Remove every cut [`partition`] made (in the containers that are running).
pub fn heal(manifest: &Manifest, net: &DockerNet) -> Result<(), TestnetError> {
    for (i, node) in manifest.nodes.iter().enumerate() {
        let Ok(pid) = container_pid(net, &node.name) else {
            continue; // stopped: a restart comes back without routes
        };
        for j in (0..manifest.nodes.len()).filter(|&j| j != i) {
            // Absent when there was no cut: nothing to remove.
            let _ = route(pid, "del", &net.ip(j));
        }
    }
    Ok(())
}
