//! Kubernetes manifests for a real cluster (`lantau testnet init --k8s`): a StatefulSet of
//! one pod per validator (kept on different nodes), a headless Service that gives each pod
//! a stable DNS name, which genesis uses as its p2p address, the genesis and config as a
//! ConfigMap, and each validator's keys in a Secret, never in the image.
//!
//! Each pod mounts its own keys by name (`subPathExpr: $(POD_NAME)/...`) from the one
//! Secret, its data from its own volume claim, and the shared config and genesis, into the
//! home layout `lantau start` reads. `kubectl apply -k <dir>` applies it all.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use crate::TestnetError;
use crate::init::InitOptions;
use crate::manifest::Manifest;

/// The folder (inside the testnet's) that holds the manifests.
pub const K8S_DIR: &str = "k8s";
/// The StatefulSet's and Service's name: pods are `lantau-0`, `lantau-1`, ...
const NAME: &str = "lantau";

/// The DNS name the headless Service gives pod `i` in `namespace`.
pub fn pod_host(namespace: &str, i: usize) -> String {
    format!("{NAME}-{i}.{NAME}.{namespace}.svc.cluster.local")
}

/// Homes for `options.validators` pods in `namespace` (written by the `--hosts` path, the
/// pods' DNS names as hosts) and the manifests that run them with `image`.
pub fn init(
    dir: &Path,
    options: &InitOptions,
    namespace: &str,
    image: &str,
) -> Result<Manifest, TestnetError> {
    let hosts = (0..options.validators)
        .map(|i| pod_host(namespace, i))
        .collect();
    let manifest = crate::init::init(
        dir,
        &InitOptions {
            hosts,
            ..options.clone()
        },
    )?;
    let out = dir.join(K8S_DIR);
    fs::create_dir_all(&out).map_err(|e| TestnetError::io(&out, e))?;
    let read = |path: &Path| fs::read_to_string(path).map_err(|e| TestnetError::io(path, e));
    let first = dir.join(&manifest.nodes[0].home);
    // Every pod shares one config (a --hosts home's: all interfaces, the usual ports, all
    // cores), so one moniker; genesis names each validator.
    let config = read(&first.join("config.toml"))?.replace(
        &format!("moniker = \"{}\"", manifest.nodes[0].name),
        &format!("moniker = \"{NAME}\""),
    );
    let genesis = read(&first.join("genesis.json"))?;
    let mut keys = Vec::new();
    for (i, node) in manifest.nodes.iter().enumerate() {
        let home = dir.join(&node.home);
        for file in ["validator_key", "node_key"] {
            keys.push((
                format!("{NAME}-{i}.{file}"),
                format!("{NAME}-{i}/{file}"),
                read(&home.join(file))?,
            ));
        }
    }
    let files = [
        ("namespace.yaml", namespace_yaml(namespace)),
        ("service.yaml", service_yaml(namespace)),
        (
            "configmap.yaml",
            configmap_yaml(namespace, &config, &genesis),
        ),
        ("secret.yaml", secret_yaml(namespace, &keys)),
        (
            "statefulset.yaml",
            statefulset_yaml(namespace, options.validators, image, &keys),
        ),
    ];
    for (name, text) in &files {
        let path = out.join(name);
        fs::write(&path, text).map_err(|e| TestnetError::io(&path, e))?;
    }
    let mut kustomization = String::from(
        "# `kubectl apply -k .` (this folder) applies every manifest. The image must be one the\n\
         # cluster can pull: `lantau testnet image` builds it (`--save FILE` for `docker load`\n\
         # on the nodes); push it to your registry and name it here, e.g.\n\
         # images:\n#   - name: lantau\n#     newName: registry.example.com/lantau\n#     newTag: 0.1.0\n\
         apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
    );
    for (name, _) in &files {
        let _ = writeln!(kustomization, "  - {name}");
    }
    let path = out.join("kustomization.yaml");
    fs::write(&path, kustomization).map_err(|e| TestnetError::io(&path, e))?;
    Ok(manifest)
}

/// `text` as a YAML literal block, indented by `indent` spaces.
fn block(text: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

fn namespace_yaml(namespace: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n")
}

fn service_yaml(namespace: &str) -> String {
    // Headless, and publishing pods before they are ready: a validator is ready only once it
    // reaches its peers, which find it by this DNS name.
    format!(
        r#"apiVersion: v1
kind: Service
metadata:
  name: {NAME}
  namespace: {namespace}
  labels:
    app: {NAME}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector:
    app: {NAME}
  ports:
    - name: p2p
      port: 26656
    - name: api
      port: 26657
"#
    )
}

fn configmap_yaml(namespace: &str, config: &str, genesis: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {NAME}-config\n  namespace: {namespace}\n\
         data:\n  config.toml: |\n{}  genesis.json: |\n{}",
        block(config, 4),
        block(genesis, 4)
    )
}

fn secret_yaml(namespace: &str, keys: &[(String, String, String)]) -> String {
    let mut out = format!(
        "# Every validator's keys: apply it from the machine that made them, keep it out of\n\
         # version control, and let each pod mount only its own (see statefulset.yaml).\n\
         apiVersion: v1\nkind: Secret\nmetadata:\n  name: {NAME}-keys\n  namespace: {namespace}\n\
         type: Opaque\nstringData:\n"
    );
    for (key, _, value) in keys {
        let _ = writeln!(out, "  {key}: \"{}\"", value.trim());
    }
    out
}

fn statefulset_yaml(
    namespace: &str,
    replicas: usize,
    image: &str,
    keys: &[(String, String, String)],
) -> String {
    let mut items = String::new();
    for (key, path, _) in keys {
        let _ = write!(
            items,
            "              - key: {key}\n                path: {path}\n"
        );
    }
    format!(
        r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {NAME}
  namespace: {namespace}
  labels:
    app: {NAME}
spec:
  serviceName: {NAME}
  replicas: {replicas}
  # All at once: a validator is ready only once a quorum of the others runs.
  podManagementPolicy: Parallel
  selector:
    matchLabels:
      app: {NAME}
  template:
    metadata:
      labels:
        app: {NAME}
    spec:
      # One validator per machine: two on one host fail together.
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - labelSelector:
                matchLabels:
                  app: {NAME}
              topologyKey: kubernetes.io/hostname
      terminationGracePeriodSeconds: 30
      containers:
        - name: lantau
          image: {image}
          args: ["start", "--home", "/home/lantau"]
          env:
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
          ports:
            - name: p2p
              containerPort: 26656
            - name: api
              containerPort: 26657
          readinessProbe:
            httpGet:
              path: /readiness
              port: api
            periodSeconds: 5
          livenessProbe:
            httpGet:
              path: /health
              port: api
            periodSeconds: 10
            failureThreshold: 6
          volumeMounts:
            - name: data
              mountPath: /home/lantau/data
            - name: config
              mountPath: /home/lantau/config.toml
              subPath: config.toml
            - name: config
              mountPath: /home/lantau/genesis.json
              subPath: genesis.json
            # Each pod its own keys, by its name, out of the one Secret.
            - name: keys
              mountPath: /home/lantau/validator_key
              subPathExpr: $(POD_NAME)/validator_key
            - name: keys
              mountPath: /home/lantau/node_key
              subPathExpr: $(POD_NAME)/node_key
      volumes:
        - name: config
          configMap:
            name: {NAME}-config
        - name: keys
          secret:
            secretName: {NAME}-keys
            defaultMode: 0400
            items:
{items}  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: ["ReadWriteOnce"]
        resources:
          requests:
            storage: 10Gi
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifests_name_dns_addresses_and_mount_each_pod_its_own_keys() {
        let dir = tempfile::tempdir().unwrap();
        let options = InitOptions {
            funded: vec![(ledger::Keypair::from_seed("treasury").public(), 1_000)],
            receive_only: vec![(ledger::Keypair::from_seed("shop").public(), 0)],
            ..InitOptions::default()
        };
        let manifest = init(dir.path(), &options, "bank", "lantau:test").unwrap();
        assert_eq!(manifest.nodes.len(), 4);
        let genesis = home_genesis(dir.path());
        for i in 0..4 {
            let address = &genesis.validators[i].p2p.as_ref().unwrap().address;
            assert_eq!(
                address,
                &format!("/dns4/lantau-{i}.lantau.bank.svc.cluster.local/tcp/26656")
            );
        }
        let read = |f: &str| fs::read_to_string(dir.path().join(K8S_DIR).join(f)).unwrap();
        let set = read("statefulset.yaml");
        assert!(
            set.contains("replicas: 4") && set.contains("subPathExpr: $(POD_NAME)/validator_key"),
            "{set}"
        );
        assert!(set.contains("path: lantau-3/node_key"), "{set}");
        let secret = read("secret.yaml");
        let key = fs::read_to_string(dir.path().join("node2/validator_key")).unwrap();
        assert!(secret.contains(&format!("lantau-2.validator_key: \"{}\"", key.trim())));
        let config = read("configmap.yaml");
        assert!(config.contains("  genesis.json: |\n    {"), "{config}");
        assert!(read("kustomization.yaml").contains("  - statefulset.yaml"));
    }

    fn home_genesis(dir: &Path) -> ledger::Genesis {
        interface::home::read_genesis(&dir.join("node0")).unwrap()
    }
}
