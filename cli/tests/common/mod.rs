//! What the CLI test binaries share: running the real `lantau`, and a live local testnet
//! that is stopped even when an assertion fails. (Each binary uses part of it.)
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// `lantau` with the testnet directory set, as a user's shell would have it.
pub fn lantau(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lantau"));
    c.env("LANTAU_TESTNET_DIR", dir)
        .env_remove("LANTAU_NODE")
        .env_remove("LANTAU_KEY_PASSPHRASE");
    c
}

pub fn run(dir: &Path, args: &[&str]) -> Output {
    lantau(dir).args(args).output().expect("runs lantau")
}

/// Its stdout; the command must succeed.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "lantau {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Poll `done` until it holds; fail the test after 30 s, naming `what`.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A running 4-validator testnet in `dir` (50 ms blocks); `testnet down` on drop.
pub struct Testnet(pub PathBuf);

impl Testnet {
    pub fn up(dir: &Path) -> (Self, String) {
        ok(
            dir,
            &[
                "testnet",
                "init",
                "--validators",
                "4",
                "--block-interval-ms",
                "50",
            ],
        );
        let guard = Testnet(dir.to_path_buf());
        let up = ok(dir, &["testnet", "up", "--timeout-secs", "60"]);
        (guard, up)
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        let _ = run(&self.0, &["testnet", "down"]);
    }
}
