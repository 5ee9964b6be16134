//! The README, followed as written: the walk-through against a fresh testnet in a fresh
//! home directory, and "Run a consortium" with each member on a host of its own (a network
//! namespace at the section's addresses). A command the README shows that stops working,
//! or says something other than what the README's comment promises, fails here.

use std::collections::HashMap;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The commands of the first ```sh block after `heading`: continuation lines joined,
/// comments and the alias line dropped, each with its trailing comment (the promise).
fn commands_after(heading: &str) -> Vec<(String, String)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let section = &readme[readme
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading}"))..];
    let block = &section[section.find("```sh\n").unwrap() + 6..];
    let block = &block[..block.find("```").unwrap()];
    let joined = block.replace("\\\n", " ");
    joined
        .lines()
        .filter_map(|line| {
            let (command, comment) = line.split_once(" #").unwrap_or((line, ""));
            let command = command.split_whitespace().collect::<Vec<_>>().join(" ");
            (!command.is_empty() && !command.starts_with('#') && !command.starts_with("alias "))
                .then(|| (command, comment.trim().to_string()))
        })
        .collect()
}

/// A folder on PATH holding `lantau`, the binary under test.
fn bin_dir(tmp: &Path) -> PathBuf {
    let bin = tmp.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_lantau"), bin.join("lantau")).unwrap();
    bin
}

fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn check(command: &str, out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "README command `{command}` failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn fill(command: &str, values: &HashMap<&str, String>) -> String {
    values
        .iter()
        .fold(command.to_string(), |c, (k, v)| c.replace(k, v))
}

/// Stops the walk-through's testnet even when an assertion fails.
struct Walkthrough {
    home: PathBuf,
    path: String,
}

impl Drop for Walkthrough {
    fn drop(&mut self) {
        let _ = Command::new("lantau")
            .args(["testnet", "down"])
            .env("HOME", &self.home)
            .env("PATH", &self.path)
            .env_remove("LANTAU_TESTNET_DIR")
            .output();
    }
}

#[test]
fn the_readme_walkthrough_works_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let path = path_with(&bin_dir(tmp.path()));
    let _guard = Walkthrough {
        home: home.clone(),
        path: path.clone(),
    };
    let shell = |command: &str| {
        let mut c = Command::new("bash");
        c.args(["-c", command])
            .current_dir(tmp.path())
            .env("HOME", &home)
            .env("PATH", &path)
            .env_remove("LANTAU_TESTNET_DIR")
            .env_remove("LANTAU_NODE")
            .stdin(Stdio::null());
        c
    };
    let commands = commands_after("## Walk-through");
    assert!(commands.len() >= 10, "{commands:?}");
    let mut values: HashMap<&str, String> = HashMap::new();
    let mut seen = Vec::new();
    for (command, promise) in &commands {
        let command = fill(command, &values);
        let words: Vec<&str> = command.split_whitespace().collect();
        let verb = words[1..3.min(words.len())].join(" ");
        seen.push(verb.clone());
        if command.contains(" -f ") {
            // Follows until interrupted: read its first line, then stop it.
            let mut child = shell(&command).stdout(Stdio::piped()).spawn().unwrap();
            let mut first = String::new();
            std::io::BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut first)
                .unwrap();
            let _ = child.kill();
            let _ = child.wait();
            assert!(!first.is_empty(), "`{command}` printed nothing");
            continue;
        }
        let out = check(&command, &shell(&command).output().unwrap());
        match verb.as_str() {
            "testnet up" => assert!(out.contains("node3"), "{out}"),
            "keygen --out" => {
                let address = out.split_whitespace().find(|w| w.len() == 64).unwrap();
                values.insert("<address>", address.to_string());
            }
            "tx transfer" => {
                assert!(out.contains("committed and executed"), "{out}");
                values.insert("<hash>", out.split_whitespace().next().unwrap().to_string());
            }
            "query account" => {
                // "balance 500, nonce 0"
                let balance = promise.split([' ', ',']).nth(1).unwrap();
                assert!(
                    out.contains(&format!("balance  {balance}")),
                    "{promise}: {out}"
                );
                assert!(out.contains("nonce    0"), "{out}");
                assert!(out.contains("verified at height"), "{promise}: {out}");
            }
            "query tx" => {
                assert!(out.contains("committed and executed at height"), "{out}");
                assert!(out.contains("verified at height"), "{promise}: {out}");
            }
            "query block" => assert!(out.contains("certified  by"), "{out}"),
            "query history" => assert!(out.contains("received from"), "{out}"),
            "watch --blocks" => assert_eq!(
                out.lines().filter(|l| l.starts_with("height")).count(),
                3,
                "{out}"
            ),
            "testnet status" => {
                let up = out
                    .lines()
                    .filter(|l| l.split_whitespace().any(|w| w == "up"))
                    .count();
                assert_eq!(up, 4, "{out}");
            }
            "testnet stop" => assert!(out.contains("killed node3"), "{out}"),
            "testnet down" => assert!(out.contains("stopped"), "{out}"),
            "testnet rm" => assert!(!home.join(".lantau/testnet").exists(), "{out}"),
            _ => {}
        }
    }
    for verb in ["testnet up", "tx transfer", "query account", "testnet rm"] {
        assert!(
            seen.iter().any(|v| v == verb),
            "the walk-through lost `lantau {verb}`"
        );
    }
}

/// Network namespaces for the consortium's hosts: `sw` holds a bridge, each member's
/// namespace a veth to it. Removed (with everything running in them) on drop.
struct Hosts {
    prefix: String,
    members: usize,
    nodes: Vec<Child>,
}

impl Hosts {
    fn ip(args: &[&str]) {
        let out = Command::new("ip")
            .args(args)
            .output()
            .expect("runs ip (iproute2)");
        assert!(
            out.status.success(),
            "ip {args:?}: {} (this test makes network namespaces: it needs root and iproute2)",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn new(members: usize) -> Self {
        let prefix = format!("lantau-readme-{}", std::process::id());
        let hosts = Hosts {
            prefix: prefix.clone(),
            members,
            nodes: vec![],
        };
        let sw = format!("{prefix}-sw");
        Self::ip(&["netns", "add", &sw]);
        Self::ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"]);
        Self::ip(&["-n", &sw, "link", "set", "br0", "up"]);
        for i in 0..members {
            let ns = hosts.ns(i);
            Self::ip(&["netns", "add", &ns]);
            let port = format!("p{i}");
            Self::ip(&[
                "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &port,
                "netns", &sw,
            ]);
            Self::ip(&["-n", &sw, "link", "set", &port, "master", "br0", "up"]);
            Self::ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("10.0.0.{}/24", i + 1),
                "dev",
                "eth0",
            ]);
            Self::ip(&["-n", &ns, "link", "set", "eth0", "up"]);
            Self::ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        hosts
    }

    fn ns(&self, member: usize) -> String {
        format!("{}-bank{member}", self.prefix)
    }

    /// `command` in `member`'s namespace, in `dir`.
    fn on(&self, member: usize, dir: &Path, command: &str, path: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(member), "bash", "-c", command])
            .current_dir(dir)
            .env("PATH", path)
            .env_remove("LANTAU_NODE")
            .env_remove("LANTAU_TESTNET_DIR")
            .stdin(Stdio::null());
        c
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for child in &mut self.nodes {
            let _ = child.kill();
            let _ = child.wait();
        }
        for i in 0..self.members {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(i)])
                .output();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &format!("{}-sw", self.prefix)])
            .output();
    }
}

#[test]
fn the_readme_consortium_runs_as_written_on_four_hosts() {
    let tmp = tempfile::tempdir().unwrap();
    let path = path_with(&bin_dir(tmp.path()));
    let commands = commands_after("## Run a consortium");
    let mut hosts = Hosts::new(4);
    // Each member works in a folder of its own (its host's disk); the assembler in another.
    let member_dir = |i: usize| {
        let d = tmp.path().join(format!("host{i}"));
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let assembler = tmp.path().join("assembler");
    std::fs::create_dir_all(&assembler).unwrap();
    let run_in = |dir: &Path, command: &str| {
        let out = Command::new("bash")
            .args(["-c", command])
            .current_dir(dir)
            .env("PATH", &path)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        check(command, &out)
    };
    // The accounts, made by their owners (`lantau keygen` prints the address).
    let address = |out: String| {
        out.split_whitespace()
            .find(|w| w.len() == 64)
            .unwrap()
            .to_string()
    };
    let mut values = HashMap::new();
    values.insert(
        "<treasury>",
        address(run_in(&assembler, "lantau keygen --out treasury.key")),
    );
    values.insert(
        "<shop>",
        address(run_in(&assembler, "lantau keygen --out shop.key")),
    );
    // bank0's command, as bank i types it on its own host.
    let for_member = |command: &str, i: usize| {
        command
            .replace("bank0", &format!("bank{i}"))
            .replace("10.0.0.1", &format!("10.0.0.{}", i + 1))
    };
    let mut genesis_hash = String::new();
    let mut paid = false;
    for (command, _promise) in &commands {
        let command = fill(command, &values);
        let words: Vec<&str> = command.split_whitespace().collect();
        match (words[1], words.get(2).copied().unwrap_or("")) {
            ("genesis", "member") => {
                for i in 0..4 {
                    let dir = member_dir(i);
                    let out = hosts
                        .on(i, &dir, &for_member(&command, i), &path)
                        .output()
                        .unwrap();
                    check(&command, &out);
                    // "collects the entry.json files, as bank0.json, bank1.json, ..."
                    std::fs::copy(
                        dir.join(format!("bank{i}/entry.json")),
                        assembler.join(format!("bank{i}.json")),
                    )
                    .unwrap();
                }
            }
            ("genesis", "assemble") => {
                let out = run_in(&assembler, &command);
                genesis_hash = out
                    .trim()
                    .strip_prefix("genesis hash ")
                    .unwrap()
                    .to_string();
                for i in 0..4 {
                    std::fs::copy(
                        assembler.join("genesis.json"),
                        member_dir(i).join(format!("bank{i}/genesis.json")),
                    )
                    .unwrap();
                }
            }
            ("genesis", "hash") => {
                for i in 0..4 {
                    let out = hosts
                        .on(i, &member_dir(i), &for_member(&command, i), &path)
                        .output()
                        .unwrap();
                    assert_eq!(check(&command, &out).trim(), genesis_hash, "must print H");
                }
            }
            ("start", _) => {
                for i in 0..4 {
                    let log =
                        std::fs::File::create(tmp.path().join(format!("bank{i}.log"))).unwrap();
                    let child = hosts
                        .on(
                            i,
                            &member_dir(i),
                            &format!("exec {}", for_member(&command, i)),
                            &path,
                        )
                        .stdout(log.try_clone().unwrap())
                        .stderr(log)
                        .spawn()
                        .unwrap();
                    hosts.nodes.push(child);
                }
                // Ready: every member's node connected to the others and not syncing.
                let deadline = Instant::now() + Duration::from_secs(60);
                for i in 0..4 {
                    let probe =
                        format!("lantau status --json --node http://10.0.0.{}:26657", i + 1);
                    loop {
                        let out = hosts.on(0, &assembler, &probe, &path).output().unwrap();
                        let ready = serde_json::from_slice::<serde_json::Value>(&out.stdout)
                            .is_ok_and(|s| {
                                s["peers"] == 3 && s["committed_height"].as_u64() > Some(0)
                            });
                        if ready {
                            break;
                        }
                        assert!(
                            Instant::now() < deadline,
                            "bank{i} did not come up: {}",
                            std::fs::read_to_string(tmp.path().join(format!("bank{i}.log")))
                                .unwrap_or_default()
                        );
                        std::thread::sleep(Duration::from_millis(300));
                    }
                }
            }
            ("tx", "transfer") => {
                // Sent from bank0's host, where the treasury's key is in this test.
                let out = hosts.on(0, &assembler, &command, &path).output().unwrap();
                assert!(check(&command, &out).contains("committed and executed"));
                // Every member's node shows it.
                let amount: u64 = words[words.iter().position(|w| *w == "--amount").unwrap() + 1]
                    .parse()
                    .unwrap();
                for i in 0..4 {
                    let query = format!(
                        // Verified by the genesis the assembler wrote (its working directory).
                        "lantau query account {} --json --genesis genesis.json --node http://10.0.0.{}:26657",
                        values["<shop>"],
                        i + 1
                    );
                    let deadline = Instant::now() + Duration::from_secs(30);
                    loop {
                        let out = hosts.on(i, &assembler, &query, &path).output().unwrap();
                        let v: serde_json::Value =
                            serde_json::from_slice(&out.stdout).unwrap_or_default();
                        if v["balance"] == amount {
                            break;
                        }
                        assert!(
                            Instant::now() < deadline,
                            "bank{i} never showed the payment: {v}"
                        );
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
                paid = true;
            }
            other => panic!(
                "the consortium section has a command this test does not know: {other:?} in `{command}`"
            ),
        }
    }
    assert!(!genesis_hash.is_empty() && paid, "{commands:?}");
}
