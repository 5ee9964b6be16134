//! `lantau testnet init --k8s`: the manifests validate against the Kubernetes API schemas,
//! offline (PyPI's kubernetes-validate, put by scripts/install-deps.sh in lantau's venv;
//! `.ci/run` names it in LANTAU_K8S_VALIDATE so the test cannot skip there), and a manifest
//! the schemas refuse is refused, so the check is real.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ok, run};

fn validator() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("LANTAU_K8S_VALIDATE") {
        return Some(path.into());
    }
    let venv =
        Path::new(&std::env::var_os("HOME")?).join(".cache/lantau/venv/bin/kubernetes-validate");
    venv.exists().then_some(venv)
}

fn validate(tool: &Path, files: &[PathBuf]) -> (bool, String) {
    let out = Command::new(tool)
        .args(["--strict", "--no-warn"])
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", tool.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_kubernetes_manifests_validate_against_the_api_schemas() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let d = dir.as_path();
    let treasury = ledger::Keypair::from_seed("treasury").public().to_string();
    let shop = ledger::Keypair::from_seed("shop").public().to_string();
    let out = ok(
        d,
        &[
            "testnet",
            "init",
            "--k8s",
            "--namespace",
            "bank",
            "--account",
            &format!("{treasury}:1000000"),
            "--receive-only",
            &shop,
        ],
    );
    assert!(out.contains("kubectl apply -k"), "{out}");
    // Not for this machine: `up` refuses to start local copies of the pods' validators.
    let up = run(d, &["testnet", "up"]);
    assert_eq!(up.status.code(), Some(1));
    let genesis = std::fs::read_to_string(dir.join("node0/genesis.json")).unwrap();
    assert!(
        genesis.contains("/dns4/lantau-3.lantau.bank.svc.cluster.local/tcp/26656"),
        "{genesis}"
    );

    let Some(tool) = validator() else {
        eprintln!(
            "SKIPPED the schema check: no kubernetes-validate (scripts/install-deps.sh installs it)"
        );
        return;
    };
    let k8s = dir.join("k8s");
    let files: Vec<PathBuf> = ["namespace", "service", "configmap", "secret", "statefulset"]
        .iter()
        .map(|f| k8s.join(format!("{f}.yaml")))
        .collect();
    let (valid, text) = validate(&tool, &files);
    assert!(valid, "{text}");
    // The check has teeth: a field the schema does not know, and a count that is no number.
    let broken = tmp.path().join("broken.yaml");
    let set = std::fs::read_to_string(&files[4]).unwrap();
    std::fs::write(&broken, set.replace("replicas: 4", "replicas: four")).unwrap();
    let (valid, text) = validate(&tool, std::slice::from_ref(&broken));
    assert!(!valid, "a StatefulSet with `replicas: four` passed: {text}");
    std::fs::write(&broken, set.replace("serviceName:", "servicename:")).unwrap();
    assert!(
        !validate(&tool, &[broken]).0,
        "an unknown field passed --strict"
    );
}
