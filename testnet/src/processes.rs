//! Validators as background processes: `lantau start --home <node>` with its output appended
//! to `<node>/node.log` and its pid in `<node>/node.pid`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use interface::http::NodeStatus;

use crate::TestnetError;
use crate::client::Client;
use crate::manifest::{Manifest, NodeEntry};

pub const LOG_FILE: &str = "node.log";
pub const PID_FILE: &str = "node.pid";

pub fn home(dir: &Path, node: &NodeEntry) -> PathBuf {
    dir.join(&node.home)
}

pub fn log_path(dir: &Path, node: &NodeEntry) -> PathBuf {
    home(dir, node).join(LOG_FILE)
}

/// The pid of this node's validator process, if one is running.
pub fn running_pid(dir: &Path, node: &NodeEntry) -> Option<i32> {
    let text = fs::read_to_string(home(dir, node).join(PID_FILE)).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    is_ours(pid, &home(dir, node)).then_some(pid)
}

/// Whether the process in `node`'s pid file has exited. Unlike [`running_pid`] it does not
/// check the command line, which reads empty for a moment while a just-spawned process execs.
pub fn has_exited(dir: &Path, node: &NodeEntry) -> bool {
    fs::read_to_string(home(dir, node).join(PID_FILE))
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
        .is_none_or(|pid| !alive(pid))
}

/// Exists and is not a zombie.
fn alive(pid: i32) -> bool {
    #[cfg(target_os = "linux")]
    {
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // The state follows the parenthesised command name.
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().next());
        state != Some("Z")
    }
    #[cfg(not(target_os = "linux"))]
    {
        Pid::from_raw(pid).is_some_and(|pid| rustix::process::test_kill_process(pid).is_ok())
    }
}

/// Alive, not a zombie, and still a `lantau start` for this home (pids get reused).
fn is_ours(pid: i32, home: &Path) -> bool {
    if !alive(pid) {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
            return false;
        };
        let cmdline = String::from_utf8_lossy(&cmdline);
        let home = home.canonicalize().unwrap_or_else(|_| home.to_path_buf());
        cmdline.contains("start") && cmdline.contains(&*home.to_string_lossy())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = home;
        true
    }
}

/// Send `sig`; false if there is no such process.
pub fn signal(pid: i32, sig: Signal) -> bool {
    Pid::from_raw(pid).is_some_and(|pid| rustix::process::kill_process(pid, sig).is_ok())
}

/// Start the validator of `node` in the background unless it is already running. Returns the
/// pid and whether it was started now.
pub fn start_node(
    binary: &Path,
    dir: &Path,
    node: &NodeEntry,
) -> Result<(i32, bool), TestnetError> {
    if !node.runs_here() {
        return Err(TestnetError::Usage(format!(
            "{name} is a validator for another machine ({api}): starting it here would run a second copy of its validator key, and two live copies of one key are one network hiccup from signing twice. Copy {home}/ to that host and run `lantau start --home {home}` there",
            name = node.name,
            api = node.api,
            home = node.home.display(),
        )));
    }
    if let Some(pid) = running_pid(dir, node) {
        return Ok((pid, false));
    }
    let home = home(dir, node)
        .canonicalize()
        .map_err(|e| TestnetError::io(&home(dir, node), e))?;
    let log_path = home.join(LOG_FILE);
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| TestnetError::io(&log_path, e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| TestnetError::io(&log_path, e))?;
    let mut command = Command::new(binary);
    command
        .arg("start")
        .arg("--home")
        .arg(&home)
        .arg("--log-file")
        .arg(&log_path);
    if let Some(behaviour) = &node.byzantine {
        command.arg("--byzantine").arg(behaviour);
    }
    // The node writes and rotates node.log itself; what it prints outside the log (an error
    // before logging starts, a crash of the C++ side) lands there as well.
    command.stdin(Stdio::null()).stdout(log).stderr(log_err);
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "info");
    }
    // Its own process group: a Ctrl-C meant for `lantau testnet up` must not stop it.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let child = command.spawn().map_err(|e| TestnetError::Spawn {
        binary: binary.to_path_buf(),
        reason: e.to_string(),
    })?;
    let pid = child.id() as i32;
    let pid_path = home.join(PID_FILE);
    fs::write(&pid_path, format!("{pid}\n")).map_err(|e| TestnetError::io(&pid_path, e))?;
    Ok((pid, true))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM: a clean shutdown.
    Graceful,
    /// SIGKILL: a crash.
    Kill,
}

/// Stop `node`'s validator. A graceful stop that takes longer than `grace` becomes a kill.
/// Returns false if it was not running.
pub fn stop_node(dir: &Path, node: &NodeEntry, how: Stop, grace: Duration) -> bool {
    let Some(pid) = running_pid(dir, node) else {
        let _ = fs::remove_file(home(dir, node).join(PID_FILE));
        return false;
    };
    // A paused process would never handle SIGTERM.
    signal(pid, Signal::CONT);
    signal(
        pid,
        match how {
            Stop::Graceful => Signal::TERM,
            Stop::Kill => Signal::KILL,
        },
    );
    let deadline = Instant::now() + grace;
    while running_pid(dir, node).is_some() {
        if Instant::now() > deadline {
            signal(pid, Signal::KILL);
        }
        std::thread::sleep(Duration::from_millis(50));
        reap(pid);
    }
    let _ = fs::remove_file(home(dir, node).join(PID_FILE));
    true
}

/// Collect an exited child of this process so it does not linger as a zombie.
fn reap(pid: i32) {
    if let Some(pid) = Pid::from_raw(pid) {
        let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG);
    }
}

/// SIGSTOP / SIGCONT.
pub fn pause_node(dir: &Path, node: &NodeEntry, paused: bool) -> bool {
    running_pid(dir, node)
        .is_some_and(|pid| signal(pid, if paused { Signal::STOP } else { Signal::CONT }))
}

/// Every node's status, `None` where it does not answer.
pub async fn statuses(manifest: &Manifest) -> Vec<Option<NodeStatus>> {
    // Asked all at once, each with a short deadline: a port held by something that accepts
    // and never answers must not hold up the others, nor notice of a validator that exited.
    let asks: Vec<_> = manifest
        .nodes
        .iter()
        .map(|node| {
            let client = Client::new(&node.api).with_timeout(Duration::from_secs(2));
            tokio::spawn(async move { client.status().await.ok() })
        })
        .collect();
    let mut out = Vec::with_capacity(asks.len());
    for ask in asks {
        out.push(ask.await.ok().flatten());
    }
    out
}

/// Wait until every node in `nodes` answers, sees all the others in `nodes`, and has
/// committed `blocks` more blocks than when the wait began. `progress` gets every poll.
/// Fails at once if one of their processes has exited.
pub async fn wait_until_producing(
    dir: &Path,
    manifest: &Manifest,
    nodes: &[usize],
    blocks: u64,
    timeout: Duration,
    mut progress: impl FnMut(&[Option<NodeStatus>]),
) -> Result<(), TestnetError> {
    let started = Instant::now();
    let mut first: Vec<Option<u64>> = vec![None; manifest.nodes.len()];
    loop {
        let statuses = statuses(manifest).await;
        progress(&statuses);
        let mut ready = true;
        for &i in nodes {
            match &statuses[i] {
                Some(s) => {
                    let base = *first[i].get_or_insert(s.committed_height);
                    ready &= s.peers + 1 >= nodes.len() && s.committed_height >= base + blocks;
                }
                None => ready = false,
            }
        }
        if ready {
            return Ok(());
        }
        if let Some(&i) = nodes
            .iter()
            .find(|&&i| statuses[i].is_none() && has_exited(dir, &manifest.nodes[i]))
        {
            let node = &manifest.nodes[i];
            return Err(TestnetError::Exited {
                name: node.name.clone(),
                log: log_path(dir, node),
                last_lines: tail(&log_path(dir, node), 3).unwrap_or_default().join("\n"),
            });
        }
        if started.elapsed() > timeout {
            let lagging = nodes
                .iter()
                .filter(|&&i| statuses[i].is_none())
                .map(|&i| manifest.nodes[i].name.clone())
                .collect();
            return Err(TestnetError::NotHealthy {
                secs: timeout.as_secs(),
                unreachable: lagging,
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The last `lines` lines of a log.
pub fn tail(path: &Path, lines: usize) -> Result<Vec<String>, TestnetError> {
    let text = fs::read_to_string(path).map_err(|e| TestnetError::io(path, e))?;
    let all: Vec<&str> = text.lines().collect();
    Ok(all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| l.to_string())
        .collect())
}
