//! `lantau`: the command-line tool. Every subcommand has `--help`.

#![forbid(unsafe_code)]

/// `println!` for command output: when stdout is closed early (`lantau testnet logs | head`)
/// the program ends quietly, as Unix tools do, instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::output::stdout_failed(e);
        }
    }};
}

/// `print!` with the same behaviour as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = write!(stdout, $($arg)*).and_then(|()| stdout.flush()) {
            $crate::output::stdout_failed(e);
        }
    }};
}

mod bench_cmds;
mod client_cmds;
mod dashboard;
mod demo;
mod error_codes;
mod genesis_cmds;
mod keys;
mod log_file;
mod output;
mod start;
mod testnet_cmds;
mod testnet_docker;
mod transfers;
mod tx_batch;
mod tx_cmds;
mod verified;
mod watch;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, CommandFactory, Parser, Subcommand};

/// `0.1.0 (commit 1a2b3c4d5e6f, rustc 1.x ...)`: what was built, from which commit.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("LANTAU_COMMIT"),
    ", ",
    env!("LANTAU_RUSTC"),
    ")"
);

/// lantau: a permissioned payments ledger with Tendermint-style BFT consensus.
#[derive(Parser)]
#[command(name = "lantau", version = VERSION, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new ed25519 key (owner-only file) and print its public key and address.
    Keygen {
        /// Where to write the key; refuses to overwrite.
        #[arg(long, default_value = "lantau.key")]
        out: PathBuf,
        /// Seal the key with a passphrase (asked twice, or LANTAU_KEY_PASSPHRASE); every
        /// command that signs with it then asks for it.
        #[arg(long)]
        encrypt: bool,
    },
    /// Move account keys in and out: export a key's secret, import one (optionally sealed).
    #[command(subcommand)]
    Key(keys::KeyCommand),
    /// Print the address (public key) of a key file.
    Address {
        /// The key file (`lantau keygen`, or a testnet's keys/<name>.key).
        key: PathBuf,
    },
    /// Create a single-validator home (config.toml, genesis.json, keys) ready to start.
    Init {
        /// Directory to create the validator home in (must not hold one already).
        #[arg(long)]
        home: PathBuf,
        /// Name of the new chain; transactions signed for another chain are refused.
        #[arg(long, default_value = "lantau-local")]
        chain_id: String,
        /// Fund an account in genesis, ADDRESS:BALANCE (repeatable).
        #[arg(long = "account", value_name = "ADDRESS:BALANCE", value_parser = keys::parse_account)]
        accounts: Vec<(ledger::Address, u64)>,
        /// Also fund the demo accounts alice, bob, carol and dave. Their keys come from public
        /// seeds, so anyone can spend them: for a local walk-through only.
        #[arg(long)]
        demo_accounts: bool,
    },
    /// Run the validator in a home: libp2p on config.toml's p2p_listen, the HTTP API on
    /// api_listen. Stops cleanly on Ctrl-C or SIGTERM. Logs: RUST_LOG (default info).
    Start {
        /// The validator home written by `lantau init` or `lantau testnet init`.
        #[arg(long)]
        home: PathBuf,
        /// Research testnets only: misbehave on purpose in one way (equivocate, withhold,
        /// tamper-relay, tamper-sync, flood-rounds, fake-pol, silent, hide-batches,
        /// bad-batches, phantom-batches). Refused unless the
        /// chain id marks a test chain (test, bench, demo, devnet) or the next flag is given.
        #[arg(long, value_name = "BEHAVIOUR")]
        byzantine: Option<interface::byzantine::Behaviour>,
        /// Allow --byzantine on a chain whose id does not mark it as a test chain.
        #[arg(long, requires = "byzantine")]
        i_know_this_is_a_test_chain: bool,
        /// Log format: `text` (default) or `json` (one JSON object per line, for log
        /// collectors).
        #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
        log_format: String,
        /// Write the log to this file instead of stdout, rotated by size (for hosts without
        /// journald or logrotate; `testnet up` uses it for each validator's node.log).
        #[arg(long, value_name = "FILE")]
        log_file: Option<PathBuf>,
        /// Rotate the log file past this many megabytes (MiB).
        #[arg(long, value_name = "MIB", default_value_t = 100, requires = "log_file", value_parser = clap::value_parser!(u64).range(1..))]
        log_max_mb: u64,
        /// Rotated log files to keep (FILE.1 is the newest); older ones are deleted.
        #[arg(long, value_name = "N", default_value_t = 5, requires = "log_file")]
        log_keep: usize,
    },
    /// Local testnets of N validators, each a background process.
    #[command(subcommand)]
    Testnet(testnet_cmds::TestnetCommand),
    /// Build, sign and submit transactions (online, or signed offline and broadcast).
    #[command(subcommand)]
    Tx(tx_cmds::TxCommand),
    /// Read accounts, transactions, blocks and node state.
    #[command(subcommand)]
    Query(client_cmds::QueryCommand),
    /// The node's chain, height, round, peers, mempool and sync state (`query status`).
    Status(client_cmds::NodeArgs),
    /// Follow the chain live: each block as the node commits it, or one transaction's fate
    /// (--tx) until it commits.
    Watch(watch::WatchArgs),
    /// A live page of the network in the browser: each validator's state, committed tx/s and
    /// blocks/s, commit latency, latest blocks, refusals and peer scores.
    Dashboard(dashboard::DashboardArgs),
    /// Benchmark: fresh local testnets under open-loop load (and faults), swept over rates
    /// and validator counts; writes CSV/JSON, SVG plots and an HTML report.
    Bench(Box<bench_cmds::BenchArgs>),
    /// N validators in this one process over an in-memory network, with a stream of signed
    /// transfers; prints each committed block. No ports, no background processes.
    Demo(DemoArgs),
    /// A consortium's genesis: each member makes its keys on its own host and shares a signed
    /// entry; one command assembles the genesis from the entries.
    #[command(subcommand)]
    Genesis(genesis_cmds::GenesisCommand),
    /// A validator home's configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the libp2p peer id of a validator home's node key (what genesis lists under
    /// `p2p.peer_id`).
    PeerId {
        /// The validator home.
        #[arg(long)]
        home: PathBuf,
    },
    /// Print a shell completion script (e.g. `lantau completions bash > /etc/bash_completion.d/lantau`).
    Completions {
        /// The shell to write the script for: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a validator home without starting it: config.toml (keys, bounds), genesis.json
    /// (valid, naming this home's keys), the key files and the API token file.
    Validate {
        /// The validator home.
        #[arg(long)]
        home: PathBuf,
    },
}

#[derive(Args)]
struct DemoArgs {
    /// How many validators run in this process (1 to 100; 4 tolerates one fault).
    #[arg(long, default_value_t = 4, value_parser = testnet_cmds::validator_count)]
    validators: usize,
    /// How long to send transfers; Ctrl-C stops earlier, with the same summary and cleanup.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Keep the stores here (default: a temporary directory removed at exit, Ctrl-C included).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// A single-threaded runtime for the client commands (one request at a time).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting tokio")
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen { out, encrypt } => keys::keygen(&out, encrypt),
        Command::Key(cmd) => keys::run(cmd),
        Command::Address { key } => keys::address(&key).map(|a| outln!("{a}")),
        Command::Init {
            home,
            chain_id,
            accounts,
            demo_accounts,
        } => start::init(&home, &chain_id, accounts, demo_accounts),
        Command::Start {
            home,
            byzantine,
            i_know_this_is_a_test_chain,
            log_format,
            log_file,
            log_max_mb,
            log_keep,
        } => start::start(
            &home,
            byzantine,
            i_know_this_is_a_test_chain,
            &start::Logging {
                json: log_format == "json",
                file: log_file,
                max_bytes: log_max_mb << 20,
                keep: log_keep,
            },
        ),
        Command::Config(ConfigCommand::Validate { home }) => node::home::load(&home)
            .map(|loaded| {
                outln!(
                    "{} is a valid home: validator {} of {} on chain {:?}",
                    home.display(),
                    loaded.setup.validator_key.public(),
                    loaded.setup.genesis.validators.len(),
                    loaded.setup.genesis.chain_id
                )
            })
            .with_context(|| format!("checking the home {}", home.display())),
        Command::PeerId { home } => interface::home::read_secret(&home.join("node_key"))
            .map(|secret| outln!("{}", interface::home::peer_id_of(secret)))
            .map_err(anyhow::Error::from),
        Command::Testnet(cmd) => testnet_cmds::run(cmd),
        Command::Genesis(cmd) => genesis_cmds::run(cmd),
        Command::Tx(cmd) => tx_cmds::run(cmd),
        Command::Watch(args) => watch::run(args),
        Command::Dashboard(args) => dashboard::run(args),
        Command::Query(cmd) => client_cmds::run_query(cmd),
        Command::Status(node) => client_cmds::run_query(client_cmds::QueryCommand::Status { node }),
        Command::Bench(args) => bench_cmds::run(*args),
        Command::Demo(args) => demo::run(demo::Options {
            validators: args.validators,
            seconds: args.seconds,
            dir: args.dir,
        }),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "lantau", &mut std::io::stdout());
            Ok(())
        }
    };
    if let Err(e) = result {
        // `--json` asked for JSON: errors too, with the node's stable code when it gave one.
        // `--json` asked for JSON: the error is JSON on stdout, pretty like an answer, with
        // its stable code (README, "Error codes"), and nothing on stderr.
        if std::env::args().any(|a| a == "--json") {
            let error = serde_json::json!({
                "code": error_codes::code_of(&e),
                "message": format!("{e:#}"),
            });
            outln!(
                "{}",
                serde_json::to_string_pretty(&error).expect("JSON serialises")
            );
        } else {
            eprintln!("error: {e:#}");
        }
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every flag and argument of every command says what it is for in `--help`.
    #[test]
    fn every_flag_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = vec![];
        walk(&super::Cli::command(), "lantau", &mut missing);
        assert!(
            missing.is_empty(),
            "flags without help:\n{}",
            missing.join("\n")
        );
    }
}
