//! The validator's signing log on disk: one record per signature, written (and synced) before
//! the signed message leaves, read back at start so a restarted validator never signs
//! anything that conflicts with what it already sent.

use consensus::{SignRecord, Step};
use ledger::encoding;
use ledger::storage::{StorageError, Store};

/// Make `record` durable. Its key orders records by (round, step) within a height.
pub fn persist(store: &Store, record: &SignRecord) -> Result<(), StorageError> {
    let step = match record.step {
        Step::Propose => 0u8,
        Step::Prevote => 1,
        Step::Precommit => 2,
    };
    let mut position = record.round.to_be_bytes().to_vec();
    position.push(step);
    store.append_signing_record(record.height, &position, &encoding::encode(record))
}

/// The records to rebuild consensus from after a restart.
pub fn load(store: &Store) -> Result<Vec<SignRecord>, StorageError> {
    store
        .signing_log()?
        .iter()
        .map(|bytes| {
            encoding::decode(bytes).map_err(|error| StorageError::Corrupt {
                what: "signing log entry".into(),
                error,
            })
        })
        .collect()
}
