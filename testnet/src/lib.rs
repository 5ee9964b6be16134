//! Drives lantau networks from outside, the way an operator or a researcher would: an HTTP
//! client for the node API ([`client`]), local multi-process testnets ([`init`],
//! [`processes`], described by [`manifest`]), the benchmark harness, and the live
//! [`dashboard`].

#![forbid(unsafe_code)]

pub mod bench;
pub mod client;
mod client_error;
pub mod dashboard;
pub mod docker;
pub mod docker_links;
mod docker_net;
pub mod events;
pub mod init;
pub mod k8s;
pub mod light;
pub mod manifest;
pub mod processes;

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum TestnetError {
    // Not `source`: the message already carries it, and error chains would print it twice.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(transparent)]
    Home(#[from] interface::home::HomeError),
    #[error(
        "{0} already exists: this directory already holds a testnet (use it, or pick another --dir)"
    )]
    Exists(PathBuf),
    #[error("no testnet in {dir}; create one with `lantau testnet init --dir {dir}` (or `lantau testnet up`)", dir = .0.display())]
    NoTestnet(PathBuf),
    #[error("no node {name:?} in this testnet; it has {}", .known.join(", "))]
    UnknownNode { name: String, known: Vec<String> },
    #[error("cannot start {binary}: {reason}", binary = .binary.display())]
    Spawn { binary: PathBuf, reason: String },
    #[error("the testnet was not producing blocks after {secs} s{}; see `lantau testnet logs`", if .unreachable.is_empty() { String::new() } else { format!(" ({} not answering)", .unreachable.join(", ")) })]
    NotHealthy { secs: u64, unreachable: Vec<String> },
    #[error("{name} exited; the end of {log}:\n{last_lines}", log = .log.display())]
    Exited {
        name: String,
        log: PathBuf,
        last_lines: String,
    },
    #[error("{0}")]
    Usage(String),
}

impl TestnetError {
    pub fn io(path: &Path, error: std::io::Error) -> Self {
        TestnetError::Io {
            path: path.to_path_buf(),
            error,
        }
    }
}
