//! The one place that turns lantau values into bytes and back.
//!
//! Every persisted or transmitted byte string goes through [`encode`] and [`decode`], with one
//! fixed bincode configuration: little-endian, fixed-width integers. Fixed-width integers make
//! the encoding canonical (a varint could be written in more than one way), so the same value
//! always has the same bytes, and hashes and signatures over those bytes are well defined.
//!
//! Decoding is strict: it enforces a size limit before allocating anything (a forged 4 GiB
//! length prefix fails fast instead of allocating), and it rejects trailing bytes, so one byte
//! string decodes to at most one value.

use bincode::config::{Configuration, Fixint, Limit, LittleEndian};
pub use bincode::{Decode, Encode};

/// Largest byte string any decoder accepts: a block of 10,000 maximal transactions fits well
/// inside it. Callers with tighter bounds pass their own limit to [`decode_limited`].
pub const MAX_DECODE_BYTES: usize = 32 * 1024 * 1024;

type Config<const N: usize> = Configuration<LittleEndian, Fixint, Limit<N>>;

const fn config<const N: usize>() -> Config<N> {
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
        .with_limit::<N>()
}

/// Why a byte string was not accepted as a value.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("input is {len} bytes, over the {limit}-byte limit for this message")]
    TooLarge { len: usize, limit: usize },
    #[error("{trailing} trailing bytes after a complete value")]
    TrailingBytes { trailing: usize },
    #[error("malformed bytes: {0}")]
    Malformed(String),
}

#[derive(Debug, thiserror::Error)]
#[error("cannot encode value: {0}")]
pub struct EncodeError(String);

/// Canonical bytes of a value.
pub fn encode<T: Encode>(value: &T) -> Vec<u8> {
    // Encoding an in-memory value into a Vec can only fail if the value is over the limit,
    // which callers rule out by construction (sizes are validated on the way in).
    try_encode(value).expect("in-memory lantau values are below the encoding limit")
}

pub fn try_encode<T: Encode>(value: &T) -> Result<Vec<u8>, EncodeError> {
    bincode::encode_to_vec(value, config::<MAX_DECODE_BYTES>())
        .map_err(|e| EncodeError(e.to_string()))
}

/// How many bytes [`encode`] would write, without writing them.
pub fn encoded_len<T: Encode>(value: &T) -> usize {
    let mut size = bincode::enc::write::SizeWriter::default();
    // Counting cannot fail short of the limit, which in-memory values respect (see `encode`).
    let _ = bincode::encode_into_writer(value, &mut size, config::<MAX_DECODE_BYTES>());
    size.bytes_written
}

/// Decode a value, rejecting inputs over [`MAX_DECODE_BYTES`] and trailing bytes.
pub fn decode<T: Decode<()>>(bytes: &[u8]) -> Result<T, DecodeError> {
    decode_limited::<T, MAX_DECODE_BYTES>(bytes)
}

/// Decode a value whose encoding may not exceed `LIMIT` bytes.
pub fn decode_limited<T: Decode<()>, const LIMIT: usize>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > LIMIT {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            limit: LIMIT,
        });
    }
    let (value, read) = bincode::decode_from_slice(bytes, config::<LIMIT>())
        .map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if read != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            trailing: bytes.len() - read,
        });
    }
    Ok(value)
}

/// The value the bytes start with, ignoring what follows it: a stored block's header, read
/// without decoding (and re-hashing) its transactions. Only for lantau's own records.
pub fn decode_prefix<T: Decode<()>>(bytes: &[u8]) -> Result<T, DecodeError> {
    bincode::decode_from_slice(bytes, config::<MAX_DECODE_BYTES>())
        .map(|(value, _)| value)
        .map_err(|e| DecodeError::Malformed(e.to_string()))
}

/// Canonical bytes of a value that another crate defines with serde only (the state tree's
/// nodes and proofs, from `jmt`): the same configuration as [`encode`].
pub fn encode_serde<T: serde::Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, config::<MAX_DECODE_BYTES>())
        .expect("in-memory lantau values are below the encoding limit")
}

/// [`decode_limited`] for a serde-only value: the size limit first, no trailing bytes.
pub fn decode_serde<T: serde::de::DeserializeOwned, const LIMIT: usize>(
    bytes: &[u8],
) -> Result<T, DecodeError> {
    if bytes.len() > LIMIT {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            limit: LIMIT,
        });
    }
    let (value, read) = bincode::serde::decode_from_slice(bytes, config::<LIMIT>())
        .map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if read != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            trailing: bytes.len() - read,
        });
    }
    Ok(value)
}

/// The element count a sequence's encoding starts with (a fixed-width u64), read without
/// decoding the rest: a node refusing a whole batch can count it without allocating. None if
/// the bytes are too short to hold it.
pub fn peek_len(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
}

/// The variant tag of an enum and the first field of that variant when it is a `u64` (a
/// fixed-width u32, then a fixed-width u64), read without decoding the rest: a consensus
/// message's height, to drop a stale 16 MiB proposal before decoding it.
pub fn peek_tag_and_u64(bytes: &[u8]) -> Option<(u32, u64)> {
    let tag = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
    let first = u64::from_le_bytes(bytes.get(4..12)?.try_into().ok()?);
    Some((tag, first))
}

#[cfg(test)]
mod tests {
    #[test]
    fn peek_len_reads_a_sequence_count_without_decoding() {
        let v = vec![vec![1u8; 3], vec![2u8; 5], vec![]];
        assert_eq!(super::peek_len(&super::encode(&v)), Some(3));
        assert_eq!(super::peek_len(&[1, 2, 3]), None);
    }

    #[test]
    fn encoded_len_counts_what_encode_writes() {
        let value = (7u64, vec![1u8, 2, 3], String::from("lantau"));
        assert_eq!(super::encoded_len(&value), super::encode(&value).len());
    }

    use super::*;

    #[test]
    fn rejects_trailing_bytes() {
        let mut bytes = encode(&7u64);
        assert_eq!(decode::<u64>(&bytes).unwrap(), 7);
        bytes.push(0);
        assert!(matches!(
            decode::<u64>(&bytes),
            Err(DecodeError::TrailingBytes { trailing: 1 })
        ));
    }

    #[test]
    fn huge_length_prefix_fails_without_allocating() {
        // A Vec<u8> claiming u64::MAX / 2 elements followed by nothing.
        let bytes = (u64::MAX / 2).to_le_bytes();
        assert!(matches!(
            decode::<Vec<u8>>(&bytes),
            Err(DecodeError::Malformed(_))
        ));
        let bytes = (4u64 << 30).to_le_bytes();
        assert!(matches!(
            decode::<Vec<u64>>(&bytes),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn limit_is_enforced_before_decoding() {
        let bytes = encode(&vec![1u8; 100]);
        assert!(matches!(
            decode_limited::<Vec<u8>, 64>(&bytes),
            Err(DecodeError::TooLarge {
                len: 108,
                limit: 64
            })
        ));
    }

    #[test]
    fn integers_are_fixed_width_little_endian() {
        assert_eq!(encode(&1u64), vec![1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(encode(&(1u32, true)), vec![1, 0, 0, 0, 1]);
    }

    #[test]
    fn invalid_bool_and_utf8_are_rejected() {
        assert!(decode::<bool>(&[2]).is_err());
        let mut bytes = 2u64.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        assert!(decode::<String>(&bytes).is_err());
    }
}
