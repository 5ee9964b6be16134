//! A lantau validator. [`app::Application`] is what consensus drives: it admits
//! transactions, builds and validates blocks, and commits decided ones to RocksDB.
//! [`local_net`] runs several validators in one process over an in-memory network.

pub mod api;
pub mod api_server;
pub mod api_types;
pub mod app;
pub mod byzantine;
pub mod commit_log;
pub mod handle;
pub mod home;
pub mod local_net;
pub mod mempool;
pub mod metrics;
pub mod network;
pub mod ports;
pub mod reads;
pub mod service;
pub mod signing_log;
mod sync;

/// Wall-clock milliseconds since the Unix epoch: block timestamps and commit times.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
