//! `lantau`: the command-line tool. For now: `lantau demo`, a live in-process testnet.

mod demo;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
lantau — a permissioned payments ledger with Tendermint-style BFT consensus

usage:
  lantau demo [--validators N] [--seconds S] [--dir PATH]
      Start N validators (default 4) in this process, each with its own consensus state
      machine and RocksDB store, send signed transfers for S seconds (default 10) and print
      every committed block with the balances it changed. Stores go to PATH (default: a
      temporary directory, removed at exit).
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
        None | Some("help") | Some("--help") | Some("-h") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
}
