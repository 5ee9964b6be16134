//! `config.toml`: its keys, their defaults and, beside them, what each one means (the
//! comments of every generated file and the README's table come from [`CONFIG_DOCS`]).

use ledger::timeouts::Timeouts;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    pub peer_id: String,
    pub address: String,
}

/// What each `config.toml` key means: the comments written into every generated
/// `config.toml` and the README's table come from here (a test holds them equal).
pub const CONFIG_DOCS: &[(&str, &str)] = &[
    ("moniker", "A name for this node in logs."),
    (
        "p2p_listen",
        "libp2p listen address (multiaddr) for the other validators.",
    ),
    ("api_listen", "HTTP API address (host:port)."),
    (
        "api_max_body_bytes",
        "Largest request body the API accepts (413 `body_too_large` above).",
    ),
    (
        "api_max_connections",
        "HTTP API connections served at once; more are closed on arrival. Lowered at start if the open-file limit would not leave 512 descriptors for peers and storage.",
    ),
    (
        "api_header_timeout_ms",
        "Time a client has to send a request's headers; also how long an idle keep-alive connection stays open.",
    ),
    (
        "api_request_timeout_ms",
        "Time a request may take in all, body included (408 `request_timeout`); above the longest `?wait_ms` (60 s).",
    ),
    (
        "block_interval_ms",
        "Least time between a commit and this validator's next proposal.",
    ),
    (
        "max_block_txs",
        "Most transactions in a block this validator proposes.",
    ),
    (
        "max_block_bytes",
        "Most bytes of transactions in a block this validator proposes; at most 15 MiB (a proposal must fit in one 16 MiB gossip message).",
    ),
    (
        "mempool_max_txs",
        "Transactions the mempool holds; beyond, submissions get 503 `mempool_full`.",
    ),
    (
        "mempool_max_bytes",
        "Bytes the mempool holds; beyond, submissions get 503 `mempool_full`.",
    ),
    (
        "mempool_max_drain_ms",
        "Admit only what the chain commits within this long at its rate over the last seconds (never less than `max_block_txs`); beyond, 503 `mempool_full` with Retry-After, so overload becomes early refusals instead of a queue. 0 = count and byte bounds only.",
    ),
    (
        "mempool_gap_ttl_blocks",
        "Blocks a transfer may wait in the mempool for an earlier nonce of its sender.",
    ),
    (
        "state_versions_kept",
        "Heights whose state stays provable (`GET /v1/accounts/{address}?prove=true&height=H`); older versions of the state tree are pruned as blocks commit. At least 1.",
    ),
    (
        "index_account_history",
        "Index each account's committed transfers for `GET /v1/accounts/{address}/txs` (`lantau query history`). The index is the largest of a commit's writes; a validator that serves no history may turn it off, and history queries then get 404 `history_not_indexed`. Turned back on, the validator indexes the heights it committed without it from their blocks when it starts, so its history is whole again.",
    ),
    (
        "mempool_max_per_sender",
        "Most transactions one sender may have waiting (429 `sender_limit` beyond).",
    ),
    (
        "empty_block_wait_ms",
        "With an empty mempool, how long the proposer waits after the last commit for a transaction before proposing an empty block; below `timeouts.propose_base_ms`; 0 = at once.",
    ),
    (
        "api_token_file",
        "A file (relative to the home) holding the bearer token that `POST /v1/txs`, `POST /v1/txs/batch` and `GET /metrics` then require (`Authorization: Bearer <token>`; 401 `unauthorized` without it); reads stay open. Empty: no token, so expose the API only to clients you trust.",
    ),
    (
        "verify_threads",
        "Signature verification threads; 0 = one per core.",
    ),
    (
        "peer_address_overrides",
        "Entries `{ peer_id = \"...\", address = \"...\" }` that replace genesis.json's address for a validator whose host moved; only peer ids named in genesis are allowed.",
    ),
    (
        "timeouts.propose_base_ms",
        "Time to wait for a proposal in round 0.",
    ),
    (
        "timeouts.propose_delta_ms",
        "Added to the proposal wait per round.",
    ),
    (
        "timeouts.prevote_base_ms",
        "Time to wait for more prevotes after any 2f+1 arrived, in round 0.",
    ),
    (
        "timeouts.prevote_delta_ms",
        "Added to the prevote wait per round.",
    ),
    (
        "timeouts.precommit_base_ms",
        "Time to wait for more precommits after any 2f+1 arrived, in round 0, before the next round.",
    ),
    (
        "timeouts.precommit_delta_ms",
        "Added to the precommit wait per round.",
    ),
    (
        "timeouts.rebroadcast_ms",
        "How often a validator re-sends its votes of the height, its current proposal, the previous round's precommits and the proof-of-lock of its valid block, so messages lost before the network stabilised cannot stall a height.",
    ),
];

/// `config.toml`. Every field has a default; unknown fields are an error (typos). What each
/// key means is in [`CONFIG_DOCS`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    pub moniker: String,
    pub p2p_listen: String,
    pub api_listen: String,
    pub api_max_body_bytes: usize,
    /// HTTP API connections served at once (more are closed on arrival). Lowered at start if
    /// the open-file limit would not leave 512 descriptors for peers and storage.
    pub api_max_connections: usize,
    /// Time a client has to send a request's headers; also how long an idle keep-alive
    /// connection stays open.
    pub api_header_timeout_ms: u64,
    /// Time a request may take in all, body included (above the longest `?wait_ms`, 60 s).
    pub api_request_timeout_ms: u64,
    pub block_interval_ms: u64,
    pub max_block_txs: usize,
    /// At most 15 MiB: a proposal must fit in one 16 MiB gossip message.
    pub max_block_bytes: usize,
    pub mempool_max_txs: usize,
    pub mempool_max_bytes: usize,
    /// Admit only what commits within this long at the recent commit rate; 0 = off.
    pub mempool_max_drain_ms: u64,
    /// Blocks a transfer may wait in the mempool for an earlier nonce of its sender.
    pub mempool_gap_ttl_blocks: u64,
    /// Most transactions one sender may have waiting in the mempool.
    pub mempool_max_per_sender: usize,
    /// Heights whose state stays provable; older tree versions are pruned.
    pub state_versions_kept: u64,
    /// Index each account's transfers (`GET /v1/accounts/{address}/txs`) as blocks commit.
    pub index_account_history: bool,
    /// With an empty mempool the proposer waits up to this long after the last commit for a
    /// transaction before proposing an empty block (fewer empty blocks on an idle chain).
    /// Must be below `timeouts.propose_base_ms`; 0 = propose at once.
    pub empty_block_wait_ms: u64,
    /// Signature verification threads; 0 = one per core.
    pub api_token_file: String,
    pub verify_threads: usize,
    /// Addresses that replace genesis.json's for the given validators (a host moved). Only
    /// peer ids named in genesis are allowed.
    pub peer_address_overrides: Vec<Peer>,
    pub timeouts: Timeouts,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            moniker: "validator".into(),
            p2p_listen: "/ip4/127.0.0.1/tcp/26656".into(),
            api_listen: "127.0.0.1:26657".into(),
            api_max_body_bytes: 64 * 1024,
            api_max_connections: 512,
            api_header_timeout_ms: 10_000,
            api_request_timeout_ms: 75_000,
            block_interval_ms: 200,
            max_block_txs: 10_000,
            max_block_bytes: 4 * 1024 * 1024,
            mempool_max_txs: 100_000,
            mempool_max_bytes: 64 * 1024 * 1024,
            mempool_max_drain_ms: 1_500,
            mempool_gap_ttl_blocks: 100,
            mempool_max_per_sender: 10_000,
            state_versions_kept: 1_000,
            index_account_history: true,
            empty_block_wait_ms: 500,
            api_token_file: String::new(),
            verify_threads: 0,
            peer_address_overrides: vec![],
            timeouts: Timeouts::default(),
        }
    }
}

/// `config.toml` text with each key's meaning from [`CONFIG_DOCS`] written above it, and no
/// table headers: `[timeouts]` keys are written dotted (`timeouts.propose_base_ms = ...`) and
/// `peer_address_overrides` as one inline array, so a key someone appends at the end of the
/// file is a top-level key, never one of the last table's.
pub fn commented(toml_text: &str) -> String {
    let mut out = String::from(
        "# lantau validator configuration. Every key may be left out (its default applies);\n# unknown keys are refused.\n\n",
    );
    let doc_of = |key: &str| CONFIG_DOCS.iter().find(|(k, _)| *k == key).map(|(_, d)| *d);
    // `[[name]]` elements, gathered into one inline array written where the first began.
    let mut arrays: Vec<(String, Vec<Vec<String>>)> = Vec::new();
    let mut table = String::new();
    let mut in_array = false;
    for line in toml_text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(name) = trimmed
            .strip_prefix("[[")
            .and_then(|t| t.strip_suffix("]]"))
        {
            in_array = true;
            match arrays.iter_mut().find(|(n, _)| n == name) {
                Some((_, elements)) => elements.push(vec![]),
                None => arrays.push((name.to_string(), vec![vec![]])),
            }
        } else if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            in_array = false;
            table = format!("{name}.");
        } else if in_array {
            let (_, elements) = arrays.last_mut().expect("an array element is open");
            elements
                .last_mut()
                .expect("an element")
                .push(trimmed.to_string());
        } else {
            let full = match trimmed.split_once(" = ") {
                Some((key, _)) => format!("{table}{key}"),
                None => String::new(),
            };
            if let Some(doc) = doc_of(&full) {
                out.push_str(&comment(doc));
            }
            out.push_str(&table);
            out.push_str(trimmed);
            out.push('\n');
        }
    }
    for (name, elements) in arrays {
        if let Some(doc) = doc_of(&name) {
            out.push_str(&comment(doc));
        }
        let inline: Vec<String> = elements
            .iter()
            .map(|fields| format!("{{ {} }}", fields.join(", ")))
            .collect();
        out.push_str(&format!("{name} = [{}]\n", inline.join(", ")));
    }
    out
}

fn comment(doc: &str) -> String {
    let mut out = String::new();
    let mut line = String::from("#");
    for word in doc.split_whitespace() {
        if line.len() + word.len() > 90 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}
