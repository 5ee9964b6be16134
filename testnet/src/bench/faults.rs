//! Faults on schedule during a point: kill, stop, restart, pause and resume validator
//! processes, partition and heal their links through the proxies.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::config::{BenchConfig, FaultKind};
use super::proxy;
use super::results::AppliedFault;
use crate::manifest::Manifest;
use crate::processes::{self, Stop};

/// A fault on a docker testnet: the engine stops, starts, pauses and resumes containers, and
/// cuts links in their network namespaces.
fn engine_fault(dir: &std::path::Path, manifest: &Manifest, kind: FaultKind, nodes: &[usize]) {
    let Some(net) = &manifest.docker else { return };
    let result = match kind {
        FaultKind::Partition => {
            let rest: Vec<usize> = (0..manifest.nodes.len())
                .filter(|i| !nodes.contains(i))
                .collect();
            crate::docker_links::partition(manifest, net, &[nodes.to_vec(), rest])
        }
        FaultKind::Heal => crate::docker_links::heal(manifest, net),
        kind => nodes.iter().try_for_each(|&i| {
            let name = &manifest.nodes[i].name;
            match kind {
                FaultKind::Kill => crate::docker::set_running(dir, net, name, false, true),
                FaultKind::Stop => crate::docker::set_running(dir, net, name, false, false),
                FaultKind::Restart => crate::docker::set_running(dir, net, name, true, false),
                FaultKind::Pause => crate::docker::set_paused(dir, net, name, true),
                _ => crate::docker::set_paused(dir, net, name, false),
            }
        }),
    };
    if let Err(e) = result {
        eprintln!("fault {kind:?} on {nodes:?} failed: {e}");
    }
}

pub(super) async fn run_faults(
    config: BenchConfig,
    binary: PathBuf,
    dir: PathBuf,
    manifest: Manifest,
    links: Option<Arc<proxy::Links>>,
    load_start: Instant,
    applied: Arc<Mutex<Vec<AppliedFault>>>,
) {
    let mut faults = config.faults.clone();
    faults.sort_by(|a, b| a.at_secs.total_cmp(&b.at_secs));
    let n = manifest.nodes.len();
    for f in faults {
        tokio::time::sleep_until(load_start + Duration::from_secs_f64(f.at_secs)).await;
        let at_secs = load_start.elapsed().as_secs_f64();
        let names: Vec<String> = f
            .nodes
            .iter()
            .map(|&i| manifest.nodes[i].name.clone())
            .collect();
        let killed: Vec<u16> = match f.kind {
            FaultKind::Kill => f.nodes.iter().map(|&i| i as u16).collect(),
            _ => vec![],
        };
        let what = match f.kind {
            kind if manifest.docker.is_some() => {
                let (dir, manifest, nodes) = (dir.clone(), manifest.clone(), f.nodes.clone());
                let _ = tokio::task::spawn_blocking(move || {
                    engine_fault(&dir, &manifest, kind, &nodes)
                })
                .await;
                describe(kind, &names)
            }
            FaultKind::Partition | FaultKind::Heal => {
                if let Some(links) = &links {
                    match f.kind {
                        FaultKind::Partition => links.partition(&f.nodes, n),
                        _ => links.heal(),
                    }
                }
                describe(f.kind, &names)
            }
            kind => {
                let (dir, manifest, binary, nodes) = (
                    dir.clone(),
                    manifest.clone(),
                    binary.clone(),
                    f.nodes.clone(),
                );
                let _ = tokio::task::spawn_blocking(move || {
                    for i in nodes {
                        let node = &manifest.nodes[i];
                        match kind {
                            FaultKind::Kill => {
                                processes::stop_node(
                                    &dir,
                                    node,
                                    Stop::Kill,
                                    Duration::from_secs(5),
                                );
                            }
                            FaultKind::Stop => {
                                processes::stop_node(
                                    &dir,
                                    node,
                                    Stop::Graceful,
                                    Duration::from_secs(10),
                                );
                            }
                            FaultKind::Restart => {
                                let _ = processes::start_node(&binary, &dir, node);
                            }
                            FaultKind::Pause => {
                                processes::pause_node(&dir, node, true);
                            }
                            FaultKind::Resume => {
                                processes::pause_node(&dir, node, false);
                            }
                            FaultKind::Partition | FaultKind::Heal => {}
                        }
                    }
                })
                .await;
                describe(kind, &names)
            }
        };
        applied.lock().expect("lock").push(AppliedFault {
            at_secs,
            what,
            killed,
            done_secs: load_start.elapsed().as_secs_f64(),
        });
    }
}

fn describe(kind: FaultKind, nodes: &[String]) -> String {
    let kind = format!("{kind:?}").to_lowercase();
    if nodes.is_empty() {
        kind
    } else {
        format!("{kind} {}", nodes.join(","))
    }
}
