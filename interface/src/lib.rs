//! What lantau shows the outside, with no runtime behind it: the HTTP API's JSON bodies and
//! error codes ([`http`]), the files of a validator home ([`home`]), the names of the
//! research-only Byzantine behaviours ([`byzantine`]) and the demo accounts of local
//! testnets ([`demo`]). The node serves and reads these; `testnet` and the client commands
//! use them without linking libp2p, RocksDB or consensus (checked in `.ci/run`).

#![forbid(unsafe_code)]

pub mod byzantine;
pub mod ceremony;
pub mod demo;
pub mod home;
pub mod http;
pub mod ports;
pub mod procfs;

/// Wall-clock milliseconds since the Unix epoch: block timestamps and commit times.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
