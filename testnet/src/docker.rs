//! Testnets whose validators are containers (`lantau testnet init --docker`): each its own
//! host with its own address on a user-defined bridge network, run by a generated
//! `docker-compose.yml` that a person can read and run by hand.
//!
//! There is no registry: the image is built here `FROM scratch` with the running `lantau`
//! binary and the shared libraries it links (what `ldd` names), tagged by the binary's
//! SHA-256, so it is built once per binary. The homes are bind-mounted, so `testnet logs`
//! reads the same `node.log` files as for processes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::TestnetError;
use crate::manifest::Manifest;

/// The compose file `init --docker` writes into the testnet folder.
pub const COMPOSE_FILE: &str = "docker-compose.yml";
/// Where a validator's home is mounted in its container.
const HOME_IN_CONTAINER: &str = "/home/lantau";

pub use crate::docker_net::DockerNet;

pub(crate) fn docker_error(what: &str, reason: impl std::fmt::Display) -> TestnetError {
    TestnetError::Usage(format!(
        "{what}: {reason} (a Docker engine must be running: `docker info`)"
    ))
}

fn run(command: &mut Command, what: &str) -> Result<Output, TestnetError> {
    let out = command.output().map_err(|e| docker_error(what, e))?;
    if !out.status.success() {
        return Err(docker_error(
            what,
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(out)
}

/// A compose project name and a /24 no Docker network on this engine uses yet.
pub fn pick_network(chain_id: &str) -> Result<DockerNet, TestnetError> {
    let ids = run(
        Command::new("docker").args(["network", "ls", "-q"]),
        "listing Docker networks",
    )?;
    let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let mut inspect = Command::new("docker");
    inspect
        .args([
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
        ])
        .args(&ids);
    let used =
        String::from_utf8_lossy(&run(&mut inspect, "reading Docker networks")?.stdout).into_owned();
    let project = format!(
        "lantau-{}",
        chain_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_lowercase()
    );
    (0..=255u8)
        .map(|x| format!("172.28.{x}"))
        .find(|prefix| !used.contains(&format!("{prefix}.")))
        .map(|subnet_prefix| DockerNet {
            project,
            subnet_prefix,
        })
        .ok_or_else(|| TestnetError::Usage("no free 172.28.x.0/24 for a Docker network".into()))
}

/// The compose file for `manifest`'s validators on `net` (each with its `byzantine`
/// behaviour, if any, and at most `cpus` CPUs, if given).
pub fn compose_file(
    manifest: &Manifest,
    net: &DockerNet,
    image: &str,
    cpus: Option<f64>,
) -> String {
    let mut out = format!(
        "# Written by `lantau testnet init --docker`: one container per validator, each its own\n\
         # host at a fixed address on the network below, its home bind-mounted from this folder\n\
         # and its API published on 127.0.0.1. Run it with `lantau testnet up`, or by hand with\n\
         # `docker-compose -p {project} up -d` (LANTAU_IMAGE names another image).\n\
         version: \"2.4\"\nservices:\n",
        project = net.project
    );
    for (i, node) in manifest.nodes.iter().enumerate() {
        let api_port = node.api.rsplit(':').next().unwrap_or("26657");
        let byzantine = node
            .byzantine
            .as_ref()
            .map_or(String::new(), |b| format!(", \"--byzantine\", \"{b}\""));
        let cpus = cpus.map_or(String::new(), |c| format!("    cpus: {c}\n"));
        out.push_str(&format!(
            "  {name}:\n\
             \x20   image: \"${{LANTAU_IMAGE:-{image}}}\"\n\
             \x20   container_name: {project}-{name}\n\
             \x20   command: [\"start\", \"--home\", \"{HOME_IN_CONTAINER}\", \"--log-file\", \"{HOME_IN_CONTAINER}/node.log\"{byzantine}]\n\
             {cpus}\
             \x20   volumes:\n\
             \x20     - \"./{home}:{HOME_IN_CONTAINER}\"\n\
             \x20   networks:\n\
             \x20     lantau:\n\
             \x20       ipv4_address: {ip}\n\
             \x20   ports:\n\
             \x20     - \"127.0.0.1:{api_port}:26657\"\n\
             \x20   healthcheck:\n\
             \x20     test: [\"CMD\", \"/lantau\", \"status\", \"--node\", \"http://127.0.0.1:26657\"]\n\
             \x20     interval: 2s\n\
             \x20     timeout: 2s\n\
             \x20     retries: 30\n\
             \x20   restart: unless-stopped\n\
             \x20   stop_grace_period: 10s\n",
            name = node.name,
            project = net.project,
            home = node.home.display(),
            ip = net.ip(i),
        ));
    }
    out.push_str(&format!(
        "networks:\n  lantau:\n    name: {project}\n    ipam:\n      config:\n        - subnet: {subnet}\n",
        project = net.project,
        subnet = net.subnet()
    ));
    out
}

/// The image tag for `binary`: its SHA-256, so a rebuilt binary gets a new image.
pub fn image_tag(binary: &Path) -> Result<String, TestnetError> {
    let bytes = fs::read(binary).map_err(|e| TestnetError::io(binary, e))?;
    Ok(format!(
        "lantau:{}",
        &ledger::crypto::sha256(&[&bytes]).to_hex()[..16]
    ))
}

/// Build the image for `binary` unless this engine has it already; its tag.
pub fn ensure_image(binary: &Path) -> Result<String, TestnetError> {
    let tag = image_tag(binary)?;
    let known = Command::new("docker")
        .args(["image", "inspect", &tag])
        .output()
        .map_err(|e| docker_error("looking for the image", e))?;
    if known.status.success() {
        return Ok(tag);
    }
    let context = tempfile_dir()?;
    let copy = |from: &Path, to: &Path| -> Result<(), TestnetError> {
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(|e| TestnetError::io(parent, e))?;
        }
        fs::copy(from, to).map_err(|e| TestnetError::io(from, e))?;
        Ok(())
    };
    copy(binary, &context.join("lantau"))?;
    let ldd = run(
        Command::new("ldd").arg(binary),
        "listing the binary's libraries",
    )?;
    for library in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let path = Path::new(library);
        copy(path, &context.join(path.strip_prefix("/").unwrap_or(path)))?;
    }
    fs::write(
        context.join("Dockerfile"),
        format!(
            "FROM scratch\nLABEL {BUILT_BY_LABEL}=lantau\nCOPY . /\nENTRYPOINT [\"/lantau\"]\n"
        ),
    )
    .map_err(|e| TestnetError::io(&context, e))?;
    let built = run(
        Command::new("docker")
            .args(["build", "-q", "-t", &tag])
            .arg(&context),
        "building the lantau image",
    );
    let _ = fs::remove_dir_all(&context);
    built?;
    remove_older_images(&tag);
    Ok(tag)
}

/// Marks the images [`ensure_image`] builds, so it can find its own.
const BUILT_BY_LABEL: &str = "org.lantau.built-by";

/// Each build of lantau makes a 46 MB image; keep only the newest. An older one a container
/// still uses is left (`docker rmi` refuses it); a testnet that ran on one gets this binary's
/// image at its next `up`.
fn remove_older_images(keep: &str) {
    let Ok(listed) = Command::new("docker")
        .args([
            "images",
            "--filter",
            &format!("label={BUILT_BY_LABEL}=lantau"),
        ])
        .args(["--format", "{{.Repository}}:{{.Tag}}"])
        .output()
    else {
        return;
    };
    for old in String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|t| *t != keep && t.starts_with("lantau:"))
    {
        let _ = Command::new("docker").args(["rmi", old]).output();
    }
}

/// Write image `tag` to `path` as a tarball (`docker save`).
pub fn save_image(tag: &str, path: &Path) -> Result<(), TestnetError> {
    run(
        Command::new("docker")
            .args(["save", "-o"])
            .arg(path)
            .arg(tag),
        &format!("saving {tag}"),
    )
    .map(|_| ())
}

fn tempfile_dir() -> Result<PathBuf, TestnetError> {
    let dir = std::env::temp_dir().join(format!("lantau-image-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| TestnetError::io(&dir, e))?;
    Ok(dir)
}

/// `docker-compose` (Compose v1) if installed, else `docker compose` (the v2 plugin).
fn compose_command() -> Command {
    let v1 = Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if v1 {
        Command::new("docker-compose")
    } else {
        let mut c = Command::new("docker");
        c.arg("compose");
        c
    }
}

/// Run compose on the testnet in `dir` with `args` (`up -d`, `kill node2`, `down`...).
pub fn compose(
    dir: &Path,
    net: &DockerNet,
    image: Option<&str>,
    args: &[&str],
) -> Result<Output, TestnetError> {
    let mut c = compose_command();
    c.current_dir(dir)
        .args(["-p", &net.project, "-f", COMPOSE_FILE])
        .args(args);
    if let Some(image) = image {
        c.env("LANTAU_IMAGE", image);
    }
    run(&mut c, &format!("docker compose {}", args.join(" ")))
}

/// Make a docker testnet in `dir`: the homes (as `init::init` writes them, at the
/// containers' addresses) and the compose file naming this binary's image.
pub fn init(
    dir: &Path,
    options: &crate::init::InitOptions,
    binary: &Path,
) -> Result<Manifest, TestnetError> {
    let net = pick_network(&options.chain_id)?;
    let options = crate::init::InitOptions {
        docker: Some(net.clone()),
        ..options.clone()
    };
    let manifest = crate::init::init(dir, &options)?;
    write_compose(dir, &manifest, &image_tag(binary)?, None)?;
    Ok(manifest)
}

/// (Re)write `dir`'s compose file for `manifest` (a docker testnet's).
pub fn write_compose(
    dir: &Path,
    manifest: &Manifest,
    image: &str,
    cpus: Option<f64>,
) -> Result<(), TestnetError> {
    let net = manifest
        .docker
        .as_ref()
        .ok_or_else(|| TestnetError::Usage("not a docker testnet".into()))?;
    let path = dir.join(COMPOSE_FILE);
    fs::write(&path, compose_file(manifest, net, image, cpus))
        .map_err(|e| TestnetError::io(&path, e))
}

/// Start (or create) every container, with this binary's image (built if missing).
pub fn up(dir: &Path, net: &DockerNet, binary: &Path) -> Result<String, TestnetError> {
    up_only(dir, net, binary, &[])
}

/// Start only the `services` named (all when empty).
pub fn up_only(
    dir: &Path,
    net: &DockerNet,
    binary: &Path,
    services: &[String],
) -> Result<String, TestnetError> {
    let image = ensure_image(binary)?;
    let mut args = vec!["up", "-d"];
    args.extend(services.iter().map(String::as_str));
    compose(dir, net, Some(&image), &args)?;
    Ok(image)
}

/// Remove the containers and the network; the homes (chains, keys, logs) stay.
pub fn down(dir: &Path, net: &DockerNet) -> Result<(), TestnetError> {
    compose(dir, net, None, &["down", "--timeout", "10"]).map(|_| ())
}

/// Stop one validator's container (`kill`: SIGKILL, a crash), or start it again.
pub fn set_running(
    dir: &Path,
    net: &DockerNet,
    node: &str,
    running: bool,
    kill: bool,
) -> Result<(), TestnetError> {
    let args: &[&str] = match (running, kill) {
        (true, _) => &["start", node],
        (false, true) => &["kill", node],
        (false, false) => &["stop", node],
    };
    compose(dir, net, None, args).map(|_| ())
}

/// Wait until the validators at `nodes` (all, when empty) answer on their published APIs and
/// have committed `blocks`.
pub async fn wait_until_committing(
    manifest: &Manifest,
    nodes: &[usize],
    blocks: u64,
    timeout: std::time::Duration,
) -> Result<(), TestnetError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let watched: Vec<&crate::manifest::NodeEntry> = if nodes.is_empty() {
        manifest.nodes.iter().collect()
    } else {
        nodes.iter().map(|&i| &manifest.nodes[i]).collect()
    };
    let clients: Vec<_> = watched
        .iter()
        .map(|n| crate::client::Client::new(&n.api).with_timeout(std::time::Duration::from_secs(2)))
        .collect();
    loop {
        let mut behind = Vec::new();
        for (client, node) in clients.iter().zip(&watched) {
            match client.status().await {
                Ok(s) if s.committed_height >= blocks => {}
                _ => behind.push(node.name.clone()),
            }
        }
        if behind.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(TestnetError::NotHealthy {
                secs: timeout.as_secs(),
                unreachable: behind,
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// Freeze one validator's container (`docker pause`: its processes stop, its links stay
/// open and unanswered), or let it run again.
pub fn set_paused(
    dir: &Path,
    net: &DockerNet,
    node: &str,
    paused: bool,
) -> Result<(), TestnetError> {
    let verb = if paused { "pause" } else { "unpause" };
    compose(dir, net, None, &[verb, node]).map(|_| ())
}

/// The host pid of a running container's first process (its network namespace is ours to
/// enter as root).
pub fn container_pid(net: &DockerNet, node: &str) -> Result<u32, TestnetError> {
    let name = format!("{}-{node}", net.project);
    let out = run(
        Command::new("docker").args(["inspect", "-f", "{{.State.Pid}}", &name]),
        &format!("finding {name}"),
    )?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .ok()
        .filter(|&pid| pid > 0)
        .ok_or_else(|| TestnetError::Usage(format!("{name} is not running")))
}
