//! A node's proof answers, as the API serves them (JSON with hex parts), checked by
//! `ledger::light` against a genesis the client trusts. Nothing here believes the node: the
//! readable fields are checked against what the proof covers, and every mismatch is named.

use interface::http::{AccountProofView, TxProofView};
use ledger::light::{Certified, LightError, Trusted};
use ledger::{Account, Address, Hash, SignedTx};

/// An answer that verified: at which height, and by how many validators' signatures (the
/// `verified` object of `--json` answers).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verified {
    pub height: u64,
    pub signers: usize,
    pub validators: usize,
}

impl From<Certified> for Verified {
    fn from(c: Certified) -> Self {
        Self {
            height: c.header.height,
            signers: c.signers,
            validators: c.validators,
        }
    }
}

impl std::fmt::Display for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "verified at height {} by {} of {} validators",
            self.height, self.signers, self.validators
        )
    }
}

/// Why a node's answer was not believed.
#[derive(Debug, thiserror::Error)]
pub enum Unverified {
    #[error("the node's {what} is not hex: {error}")]
    Hex {
        what: &'static str,
        error: hex::FromHexError,
    },
    #[error("the node answered for {got}, not the {asked} asked about")]
    OtherSubject { asked: String, got: String },
    #[error("the node answered for height {got}, not the {asked} asked for")]
    OtherHeight { asked: u64, got: u64 },
    #[error(transparent)]
    Light(#[from] LightError),
}

fn unhex(what: &'static str, text: &str) -> Result<Vec<u8>, Unverified> {
    hex::decode(text).map_err(|error| Unverified::Hex { what, error })
}

/// Check an account answer for `address` (at `height`, if one was asked for). On success the
/// answer's `account` is what the certified state root holds.
pub fn account(
    trusted: &Trusted,
    address: &Address,
    height: Option<u64>,
    answer: &AccountProofView,
) -> Result<(Option<Account>, Verified), Unverified> {
    if answer.address != *address {
        return Err(Unverified::OtherSubject {
            asked: address.to_string(),
            got: answer.address.to_string(),
        });
    }
    if let Some(asked) = height.filter(|h| *h != answer.height) {
        return Err(Unverified::OtherHeight {
            asked,
            got: answer.height,
        });
    }
    let certified = ledger::light::verify_account(
        trusted,
        address,
        answer.account.as_ref(),
        answer.height,
        &unhex("header", &answer.header)?,
        &unhex("certificate", &answer.certificate)?,
        &unhex("proof", &answer.proof)?,
    )?;
    Ok((answer.account, certified.into()))
}

/// Check a committed-transaction answer for `hash`: it is in a certified block, so it
/// executed. Returns the transaction itself, from the verified bytes.
pub fn tx(
    trusted: &Trusted,
    hash: &Hash,
    answer: &TxProofView,
) -> Result<(SignedTx, Verified), Unverified> {
    if answer.hash != *hash {
        return Err(Unverified::OtherSubject {
            asked: hash.to_string(),
            got: answer.hash.to_string(),
        });
    }
    let (certified, tx) = ledger::light::verify_tx(
        trusted,
        hash,
        answer.height,
        &unhex("transaction", &answer.tx)?,
        &unhex("header", &answer.header)?,
        &unhex("certificate", &answer.certificate)?,
        &unhex("path", &answer.path)?,
    )?;
    Ok((tx, certified.into()))
}
