//! `lantau bench`: fresh local testnets under open-loop load, with faults, measured from the
//! outside the way the hotstuff/Narwhal harness does, and written up as CSV, JSON, SVG and
//! one HTML report.
//!
//! One *point* is one (validator count, input rate) pair: sign the load, start a testnet of
//! separate `lantau start` processes, wait until it commits blocks, send for warm-up +
//! duration seconds while faults fire on schedule, drain, stop everything, and join what the
//! client sent with what an observing validator committed (`/v1/commits`).
//!
//! - `run`: the whole run and its report; `point`: one point; `faults`: faults on schedule;
//! - `load`: the presigned open-loop load; `proxy`: links with delay and partitions;
//! - `results`, `stats`, `stages`, `report`, `plots`, `compare`: what was measured, and its
//!   write-up.

pub mod audit;
pub mod ceiling;
pub mod compare;
pub mod config;
mod faults;
pub mod load;
mod machine;
pub mod plots;
mod point;
pub mod proxy;
pub mod report;
pub mod resources;
pub mod results;
mod run;
pub mod stages;
pub mod stats;

pub use machine::machine_description;
pub use run::{Outcome, ProgressFn, RunSummary, run};

const CHAIN_ID: &str = "bench";
