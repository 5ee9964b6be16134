//! Link faults without `tc netem`: one TCP proxy per directed validator link (i dials j
//! through proxy (i, j)), adding latency and jitter to every byte stream and cutting links for
//! partitions. Validators are told to dial each other through their proxies with
//! `peer_address_overrides` in their config.toml.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::TestnetError;

struct Shared {
    blocked: Mutex<HashSet<(usize, usize)>>,
    /// Bumped on every partition change, so open connections re-check their link.
    epoch: watch::Sender<u64>,
    latency: Duration,
    jitter: Duration,
}

/// Every proxy of a testnet. Dropping it stops them.
pub struct Links {
    shared: Arc<Shared>,
    /// Port of proxy (i, j).
    pub ports: HashMap<(usize, usize), u16>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Links {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Links {
    /// Start proxies for every ordered pair of `targets` (validator i's real p2p address).
    pub async fn start(
        targets: &[SocketAddr],
        latency: Duration,
        jitter: Duration,
    ) -> Result<Self, TestnetError> {
        let shared = Arc::new(Shared {
            blocked: Mutex::new(HashSet::new()),
            epoch: watch::Sender::new(0),
            latency,
            jitter,
        });
        let mut ports = HashMap::new();
        let mut tasks = Vec::new();
        for (i, _) in targets.iter().enumerate() {
            for (j, &target) in targets.iter().enumerate() {
                if i == j {
                    continue;
                }
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| TestnetError::io(std::path::Path::new("proxy"), e))?;
                let port = listener
                    .local_addr()
                    .map_err(|e| TestnetError::io(std::path::Path::new("proxy"), e))?
                    .port();
                ports.insert((i, j), port);
                let shared = shared.clone();
                tasks.push(tokio::spawn(accept_loop(listener, target, (i, j), shared)));
            }
        }
        Ok(Self {
            shared,
            ports,
            tasks,
        })
    }

    /// Cut `side` off from every other validator of `n`, both ways.
    pub fn partition(&self, side: &[usize], n: usize) {
        let mut blocked = self.shared.blocked.lock().expect("lock");
        for &a in side {
            for b in (0..n).filter(|b| !side.contains(b)) {
                blocked.insert((a, b));
                blocked.insert((b, a));
            }
        }
        drop(blocked);
        self.shared.epoch.send_modify(|e| *e += 1);
    }

    pub fn heal(&self) {
        self.shared.blocked.lock().expect("lock").clear();
        self.shared.epoch.send_modify(|e| *e += 1);
    }
}

fn is_blocked(shared: &Shared, link: (usize, usize)) -> bool {
    shared.blocked.lock().expect("lock").contains(&link)
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    link: (usize, usize),
    shared: Arc<Shared>,
) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            continue;
        };
        if is_blocked(&shared, link) {
            continue; // dropped: the dialer sees the connection close
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(target).await else {
                return;
            };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            let (ri, wi) = inbound.into_split();
            let (ro, wo) = outbound.into_split();
            let mut epoch = shared.epoch.subscribe();
            let cut = async {
                while epoch.changed().await.is_ok() {
                    if is_blocked(&shared, link) {
                        return;
                    }
                }
                std::future::pending::<()>().await
            };
            // Either direction ending, or a partition, closes both.
            tokio::select! {
                _ = pump(ri, wo, shared.latency, shared.jitter, seed(link, 0)) => {}
                _ = pump(ro, wi, shared.latency, shared.jitter, seed(link, 1)) => {}
                _ = cut => {}
            }
        });
    }
}

fn seed(link: (usize, usize), direction: u64) -> u64 {
    ((link.0 as u64) << 32 | link.1 as u64) * 2 + direction + 0x9e37_79b9_7f4a_7c15
}

/// Copy bytes one way, each chunk released `latency` + up to `jitter` after it was read, in
/// order (a later chunk never overtakes an earlier one, as on a real TCP path).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    latency: Duration,
    jitter: Duration,
    mut rng: u64,
) {
    if latency.is_zero() && jitter.is_zero() {
        let _ = tokio::io::copy(&mut from, &mut to).await;
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = async move {
        let mut last = Instant::now();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            // xorshift: deterministic per link, good enough for jitter.
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let extra = if jitter.is_zero() {
                Duration::ZERO
            } else {
                Duration::from_micros(rng % (jitter.as_micros() as u64 + 1))
            };
            last = last.max(Instant::now() + latency + extra);
            if tx.send((last, buf[..n].to_vec())).is_err() {
                return;
            }
        }
    };
    let writer = async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
    };
    // The writer finishes what the reader queued before the stream ends.
    let (_, _) = tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn round_trip(port: u16) -> Option<Duration> {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let started = Instant::now();
        s.write_all(b"ping").await.ok()?;
        let mut buf = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut buf))
            .await
            .ok()?
            .ok()?;
        (&buf == b"ping").then(|| started.elapsed())
    }

    #[tokio::test]
    async fn links_add_latency_and_partitions_cut_them() {
        let a = echo_server().await;
        let b = echo_server().await;
        let links = Links::start(&[a, b], Duration::from_millis(40), Duration::ZERO)
            .await
            .unwrap();
        let port = links.ports[&(0, 1)];
        let rtt = round_trip(port).await.expect("link works");
        // 40 ms each way through the proxy.
        assert!(rtt >= Duration::from_millis(80), "{rtt:?}");

        // An open connection is cut, and new ones are refused, until healed.
        let mut open = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        links.partition(&[1], 2);
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(2), open.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "open link was not cut"
        );
        assert!(round_trip(port).await.is_none());
        links.heal();
        assert!(round_trip(port).await.is_some());
    }
}
