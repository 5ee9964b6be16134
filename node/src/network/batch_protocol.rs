//! Batch fetching's wire protocol (`/lantau/batches/1`): a validator that holds a compact
//! proposal naming batches it lacks asks a peer for them by digest. Length-prefixed
//! `ledger::encoding` frames with size limits on both sides; the requester checks each
//! batch against its digest before using it (`node::service::batch_fetch`).

use std::time::Duration;

use bincode::{Decode, Encode};
use ledger::Hash;

use super::sync_protocol::FramedCodec;

pub(super) const BATCH_PROTOCOL: &str = "/lantau/batches/1";
/// Most digests one request may name: a request of more does not fit its byte limit.
pub const MAX_BATCHES_PER_REQUEST: usize = 256;
const MAX_BATCH_REQUEST_BYTES: usize = 8 + 32 * MAX_BATCHES_PER_REQUEST;
/// Largest reply accepted, and the most a responder puts in one (it answers what fits and
/// leaves the rest to another request).
pub const MAX_BATCH_RESPONSE_BYTES: usize = 32 * 1024 * 1024;
/// A peer that has not answered by then is given up on, and another asked.
pub(super) const BATCH_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct BatchRequest {
    pub digests: Vec<Hash>,
}

/// The encoded batches the responder holds, of those asked for (in any order; unknown ones
/// are left out).
#[derive(Debug, Clone, Default, Encode, Decode)]
pub struct BatchResponse {
    pub batches: Vec<Vec<u8>>,
}

pub(super) type BatchCodec =
    FramedCodec<BatchRequest, BatchResponse, MAX_BATCH_REQUEST_BYTES, MAX_BATCH_RESPONSE_BYTES>;
