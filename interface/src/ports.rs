//! Picking a TCP port on 127.0.0.1 that a node will bind a moment later.
//!
//! Binding port 0 and closing it hands out a port from the kernel's *ephemeral* range, which
//! outgoing connections (a validator dialing its peers, a client) also use, so another socket
//! can take it before the node binds it. Ports here come from below that range instead
//! (Linux's default starts at 32768), each checked free and never handed out twice by one
//! process.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;

const LOW: u16 = 20_000;
const HIGH: u16 = 32_000;

static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A port on 127.0.0.1 that is free now and outside the ephemeral range.
pub fn free_local_port() -> u16 {
    let seed = std::process::id() as u64 * 7_919
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64);
    let span = (HIGH - LOW) as u64;
    let mut given = GIVEN.lock().expect("lock");
    let given = given.get_or_insert_with(HashSet::new);
    for k in 0..span {
        let port = LOW + ((seed + k * 101) % span) as u16;
        if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    // Everything below the ephemeral range is taken: fall back to the kernel's choice.
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ports_are_distinct_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..50).map(|_| super::free_local_port()).collect();
        let distinct: std::collections::HashSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len());
        assert!(
            ports
                .iter()
                .all(|&p| (super::LOW..super::HIGH).contains(&p))
        );
    }
}
