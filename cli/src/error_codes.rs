//! The stable code of every error `lantau --json` prints: the node's own code when it
//! answered with one, else the code of what the CLI found itself (README, "Error codes").

use testnet::TestnetError;
use testnet::client::ClientError;

/// An error the CLI finds before or without asking a node, with its stable code.
#[derive(Debug)]
pub struct Coded {
    pub code: &'static str,
    pub message: String,
}

impl std::fmt::Display for Coded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Coded {}

/// An error with `code`, for `bail!`-like use: `return Err(coded("bad_address", ...))`.
pub fn coded(code: &'static str, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Coded {
        code,
        message: message.into(),
    })
}

/// The code for `e`: the first cause in its chain that has one, else `error`.
pub fn code_of(e: &anyhow::Error) -> &'static str {
    e.chain()
        .find_map(|cause| {
            if let Some(c) = cause.downcast_ref::<Coded>() {
                return Some(c.code);
            }
            if let Some(c) = cause.downcast_ref::<ClientError>() {
                return Some(match c {
                    ClientError::Api { error, .. } => error.code.as_str(),
                    ClientError::Unreachable { .. } => "unreachable",
                    ClientError::Timeout { .. } => "timeout",
                    ClientError::BadResponse { .. } => "bad_response",
                });
            }
            match cause.downcast_ref::<TestnetError>()? {
                TestnetError::NoTestnet(_) => Some("no_testnet"),
                TestnetError::Usage(_) => Some("usage"),
                _ => None,
            }
        })
        .unwrap_or("error")
}
