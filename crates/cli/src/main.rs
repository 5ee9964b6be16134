//! `lantau`: the command-line tool.

mod demo;
mod start;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
lantau — a permissioned payments ledger with Tendermint-style BFT consensus

usage:
  lantau demo [--validators N] [--seconds S] [--dir PATH]
      Start N validators (default 4) in this process, each with its own consensus state
      machine and RocksDB store, send signed transfers for S seconds (default 10) and print
      every committed block with the balances it changed. Stores go to PATH (default: a
      temporary directory, removed at exit).
  lantau init --home DIR [--chain-id ID]
      Create a single-validator home (config.toml, genesis.json, keys) in DIR.
  lantau start --home DIR
      Run the validator in DIR: libp2p on config.toml's p2p_listen, the HTTP API on
      api_listen. Stops cleanly on Ctrl-C or SIGTERM. Logs: RUST_LOG (default info).
  lantau help
";

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("demo") => {
            let mut opts = demo::Options::default();
            while let Some(flag) = args.next() {
                let mut value =
                    |name: &str| args.next().with_context(|| format!("{name} needs a value"));
                match flag.as_str() {
                    "--validators" => {
                        opts.validators = value("--validators")?
                            .parse()
                            .context("--validators must be a number")?
                    }
                    "--seconds" => {
                        opts.seconds = value("--seconds")?
                            .parse()
                            .context("--seconds must be a number")?
                    }
                    "--dir" => opts.dir = Some(value("--dir")?.into()),
                    other => bail!("unknown option {other:?} for demo\n\n{USAGE}"),
                }
            }
            demo::run(opts)
        }
        Some("init") => {
            let (mut home, mut chain_id) = (None, "lantau-local".to_string());
            while let Some(flag) = args.next() {
                match flag.as_str() {
                    "--home" => home = Some(args.next().context("--home needs a directory")?),
                    "--chain-id" => chain_id = args.next().context("--chain-id needs a value")?,
                    other => bail!("unknown option {other:?} for init\n\n{USAGE}"),
                }
            }
            start::init(home.context("init needs --home DIR")?.as_ref(), &chain_id)
        }
        Some("start") => {
            let mut home = None;
            while let Some(flag) = args.next() {
                match flag.as_str() {
                    "--home" => home = Some(args.next().context("--home needs a directory")?),
                    other => bail!("unknown option {other:?} for start\n\n{USAGE}"),
                }
            }
            let home: String = home.context("start needs --home DIR")?;
            start::start(home.as_ref())
        }
        None | Some("help") | Some("--help") | Some("-h") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
}
