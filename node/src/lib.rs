//! A lantau validator. [`app::Application`] is what consensus drives: it admits
//! transactions, builds and validates blocks, and commits decided ones to RocksDB.
//! [`local_net`] runs several validators in one process over an in-memory network.

#![forbid(unsafe_code)]

pub mod admission;
pub mod api;
pub mod api_server;
pub mod app;
pub mod batches;
pub mod byzantine;
pub mod commit_log;
pub mod handle;
pub mod home;
pub mod local_net;
pub mod mempool;
pub mod metrics;
pub mod network;
pub use interface::ports;
pub mod reads;
pub mod refusal;
pub mod service;
pub mod signing_log;
mod sync;

pub use interface::now_ms;
