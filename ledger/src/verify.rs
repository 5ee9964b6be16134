//! Signature verification: the hot path of every node.
//!
//! The validity rule (also in ARCHITECTURE.md) is `ed25519`'s: ZIP-215's cofactored
//! equation, with small-order keys refused. A batch and a single check accept exactly the
//! same signatures, so a signature's verdict never depends on the batch it arrives in, nor
//! on the node that checks it. A committed block still executes without re-checking
//! signatures: it is certified.
//!
//! [`TxVerifier`] is the admission pipeline (decode, hash, cache lookup, batch verify across a
//! dedicated rayon pool, never on an async runtime). Its cache remembers every transaction it
//! verified, keyed by the hash of the signed bytes, so a transaction admitted to the mempool is
//! not verified again when it arrives inside a proposed block.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ed25519_dalek::VerifyingKey;
use rayon::prelude::*;

use crate::crypto::{Hash, PublicKey, Signature, SignatureError, domain};
use crate::ed25519;
use crate::tx::{SignedTx, TxError};

/// One signature to check: `signature` by `key` over `domain || message`.
pub struct SigItem<'a> {
    pub key: &'a PublicKey,
    pub domain: &'static [u8],
    pub message: &'a [u8],
    pub signature: &'a Signature,
}

/// Verify many signatures; the result for each follows the module's validity rule.
pub fn verify_batch(items: &[SigItem<'_>]) -> Vec<Result<(), SignatureError>> {
    let keys: Vec<_> = items.iter().map(|it| it.key.to_verifying_key()).collect();
    verify_batch_with_keys(items, &keys)
}

fn verify_batch_with_keys(
    items: &[SigItem<'_>],
    keys: &[Result<VerifyingKey, SignatureError>],
) -> Vec<Result<(), SignatureError>> {
    let mut results: Vec<Result<(), SignatureError>> = Vec::with_capacity(items.len());
    let mut prepared = Vec::with_capacity(items.len());
    let mut at = Vec::with_capacity(items.len());
    for (i, (item, key)) in items.iter().zip(keys).enumerate() {
        let decoded = key.clone().and_then(|vk| {
            ed25519::prepare(&vk, item.domain, item.message, &item.signature.0)
                .ok_or(SignatureError::BadSignature)
        });
        match decoded {
            Ok(p) => {
                prepared.push(p);
                at.push(i);
                results.push(Ok(()));
            }
            Err(e) => results.push(Err(e)),
        }
    }
    if ed25519::all_hold(&prepared) {
        return results;
    }
    // Some signature in the batch is bad: find which, one by one. The single and the batch
    // equation accept the same signatures, so this changes no verdict, only finds it.
    for (p, &i) in prepared.iter().zip(&at) {
        if !p.holds() {
            results[i] = Err(SignatureError::BadSignature);
        }
    }
    results
}

/// Remembers hashes of transactions whose signatures were verified. Bounded: when the current
/// generation fills, it becomes the old one and the oldest generation is dropped, so recent
/// entries survive and memory stays at most twice the capacity.
pub struct VerifiedCache {
    generations: Mutex<[HashSet<Hash>; 2]>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl VerifiedCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            generations: Mutex::new([HashSet::new(), HashSet::new()]),
            capacity: capacity.max(1),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        self.contains_many(&[Some(*hash)])[0]
    }

    /// Look up many hashes under one lock, counting each as a hit or a miss.
    fn contains_many(&self, hashes: &[Option<Hash>]) -> Vec<bool> {
        self.lookup(hashes, true)
    }

    fn lookup(&self, hashes: &[Option<Hash>], count: bool) -> Vec<bool> {
        let g = self.generations.lock().expect("cache lock");
        let found: Vec<bool> = hashes
            .iter()
            .map(|h| h.is_some_and(|h| g[0].contains(&h) || g[1].contains(&h)))
            .collect();
        drop(g);
        if !count {
            return found;
        }
        let hits = found.iter().filter(|f| **f).count() as u64;
        let looked_up = hashes.iter().filter(|h| h.is_some()).count() as u64;
        self.hits.fetch_add(hits, Ordering::Relaxed);
        self.misses.fetch_add(looked_up - hits, Ordering::Relaxed);
        found
    }

    pub fn insert_all(&self, hashes: impl IntoIterator<Item = Hash>) {
        let mut g = self.generations.lock().expect("cache lock");
        for h in hashes {
            if g[0].len() >= self.capacity {
                g[1] = std::mem::take(&mut g[0]);
            }
            g[0].insert(h);
        }
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

/// Parsed verifying keys by account. Parsing a key decompresses a curve point (~4 us), a third
/// of the cost of a batched verification, and payment senders repeat.
struct KeyCache {
    keys: Mutex<HashMap<PublicKey, VerifyingKey>>,
    capacity: usize,
}

impl KeyCache {
    /// Parsed keys for `keys`, under one lock for the lookups and one for the inserts; keys
    /// not seen before are parsed outside the lock.
    fn get_many(&self, keys: &[&PublicKey]) -> Vec<Result<VerifyingKey, SignatureError>> {
        let found: Vec<Option<VerifyingKey>> = {
            let map = self.keys.lock().expect("key cache lock");
            keys.iter().map(|k| map.get(*k).copied()).collect()
        };
        let mut fresh = Vec::new();
        let out = keys
            .iter()
            .zip(found)
            .map(|(k, hit)| match hit {
                Some(vk) => Ok(vk),
                None => {
                    let vk = k.to_verifying_key()?;
                    fresh.push((**k, vk));
                    Ok(vk)
                }
            })
            .collect();
        if !fresh.is_empty() {
            let mut map = self.keys.lock().expect("key cache lock");
            if map.len() + fresh.len() > self.capacity {
                map.clear();
            }
            map.extend(fresh);
        }
        out
    }
}

/// A transaction that passed admission: well-formed, on this chain, signature valid.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub tx: SignedTx,
    pub hash: Hash,
    /// Encoded size, for mempool byte accounting.
    pub size: usize,
}

/// Transactions handed to one batch verification. Large enough to amortise the batch's fixed
/// cost, small enough to spread a few hundred transactions over every core.
pub const VERIFY_CHUNK: usize = 128;

/// The admission pipeline with its verified-once cache and its own thread pools.
pub struct TxVerifier {
    chain_id: String,
    /// Admission: submissions and gossip.
    pool: rayon::ThreadPool,
    /// Proposed blocks. A pool of their own because a rayon pool runs its jobs in arrival
    /// order: a proposal checked in the admission pool would wait behind every queued batch,
    /// and consensus with it (1.3 s per height at 2x overload, measured).
    block_pool: rayon::ThreadPool,
    cache: VerifiedCache,
    keys: KeyCache,
}

impl TxVerifier {
    /// `threads` = 0 uses one thread per core.
    pub fn new(chain_id: impl Into<String>, threads: usize, cache_capacity: usize) -> Self {
        let pool = |name: &'static str| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(move |i| format!("{name}-{i}"))
                .build()
                .expect("spawning verification threads")
        };
        Self {
            chain_id: chain_id.into(),
            pool: pool("lantau-verify"),
            block_pool: pool("lantau-verify-block"),
            cache: VerifiedCache::new(cache_capacity),
            keys: KeyCache {
                keys: Mutex::new(HashMap::new()),
                capacity: 1 << 20,
            },
        }
    }

    pub fn cache(&self) -> &VerifiedCache {
        &self.cache
    }

    /// Decode, hash and verify raw transactions. Blocks the calling thread while the pool
    /// works: call it from a blocking context (e.g. `spawn_blocking`), never an async task.
    pub fn admit<B: AsRef<[u8]> + Sync>(&self, raw: &[B]) -> Vec<Result<Admitted, TxError>> {
        let decoded = self.decode(raw);
        self.verify_decoded(raw, decoded)
    }

    /// The first half of [`Self::admit`]: decode, bound, check the chain and hash each raw
    /// transaction, without its signature. For a caller that keeps the decoded transactions
    /// too (a gossiped batch is stored by digest and admitted from one decoding).
    pub fn decode<B: AsRef<[u8]> + Sync>(&self, raw: &[B]) -> Vec<Result<Admitted, TxError>> {
        self.pool.install(|| {
            raw.par_chunks(VERIFY_CHUNK)
                .flat_map_iter(|chunk| chunk.iter().map(|bytes| self.decode_one(bytes.as_ref())))
                .collect()
        })
    }

    fn decode_one(&self, bytes: &[u8]) -> Result<Admitted, TxError> {
        let tx = SignedTx::decode(bytes)?;
        tx.check_chain(&self.chain_id)?;
        Ok(Admitted {
            hash: SignedTx::hash_bytes(bytes),
            size: bytes.len(),
            tx,
        })
    }

    /// The second half of [`Self::admit`]: check the signatures of what [`Self::decode`] made
    /// of `raw` (`decoded[i]` from `raw[i]`), in batches on the admission pool.
    pub fn verify_decoded<B: AsRef<[u8]> + Sync>(
        &self,
        raw: &[B],
        decoded: Vec<Result<Admitted, TxError>>,
    ) -> Vec<Result<Admitted, TxError>> {
        assert_eq!(raw.len(), decoded.len(), "one decoding per transaction");
        let verdicts: Vec<Result<(), SignatureError>> = self.pool.install(|| {
            raw.par_chunks(VERIFY_CHUNK)
                .zip(decoded.par_chunks(VERIFY_CHUNK))
                .flat_map_iter(|(raw, decoded)| {
                    let candidates: Vec<Option<Candidate<'_>>> = decoded
                        .iter()
                        .zip(raw)
                        .map(|(d, bytes)| {
                            d.as_ref().ok().map(|a| {
                                debug_assert_eq!(SignedTx::hash_bytes(bytes.as_ref()), a.hash);
                                Candidate {
                                    tx: &a.tx,
                                    encoded: bytes.as_ref(),
                                    hash: a.hash,
                                }
                            })
                        })
                        .collect();
                    self.verify_candidates(&candidates, false)
                })
                .collect()
        });
        decoded
            .into_iter()
            .zip(verdicts)
            .map(|(d, sig)| {
                let admitted = d?;
                sig?;
                Ok(admitted)
            })
            .collect()
    }

    /// Check the signatures of a proposed block's transactions, skipping those verified before.
    /// Returns the index and reason of the first invalid one.
    pub fn verify_block_txs(&self, txs: &[SignedTx]) -> Result<(), (usize, SignatureError)> {
        let ids: Vec<Hash> = txs.iter().map(SignedTx::hash).collect();
        self.verify_block_txs_by_id(txs, &ids)
    }

    /// [`Self::verify_block_txs`] for a caller that already holds the transaction ids
    /// (`Block::check_structure` returns them): cache hits cost a lookup, and only misses are
    /// encoded and verified. `ids[i]` must be `txs[i].hash()`; a wrong id could let the cache
    /// vouch for a transaction it never verified.
    pub fn verify_block_txs_by_id(
        &self,
        txs: &[SignedTx],
        ids: &[Hash],
    ) -> Result<(), (usize, SignatureError)> {
        assert_eq!(txs.len(), ids.len(), "one id per transaction");
        let results: Vec<Result<(), SignatureError>> = self.block_pool.install(|| {
            txs.par_chunks(VERIFY_CHUNK)
                .zip(ids.par_chunks(VERIFY_CHUNK))
                .flat_map_iter(|(chunk, ids)| {
                    let known: Vec<Option<Hash>> = ids.iter().map(|h| Some(*h)).collect();
                    let cached = self.cache.contains_many(&known);
                    let encoded: Vec<Option<Vec<u8>>> = chunk
                        .iter()
                        .zip(&cached)
                        .map(|(tx, hit)| (!hit).then(|| tx.encode()))
                        .collect();
                    let candidates: Vec<Option<Candidate<'_>>> = chunk
                        .iter()
                        .zip(&encoded)
                        .zip(ids)
                        .map(|((tx, e), id)| {
                            e.as_ref().map(|e| {
                                debug_assert_eq!(SignedTx::hash_bytes(e), *id);
                                Candidate {
                                    tx,
                                    encoded: e,
                                    hash: *id,
                                }
                            })
                        })
                        .collect();
                    // Looked up (and counted) just above; the second look only catches a
                    // transaction another thread verified meanwhile.
                    self.verify_candidates(&candidates, true)
                })
                .collect()
        });
        match results
            .into_iter()
            .enumerate()
            .find_map(|(i, r)| r.err().map(|e| (i, e)))
        {
            Some(bad) => Err(bad),
            None => Ok(()),
        }
    }

    /// Verify the candidates not already in the cache (`None` entries are skipped and reported
    /// Ok; the caller already has an error for them), then remember the valid ones.
    fn verify_candidates(
        &self,
        candidates: &[Option<Candidate<'_>>],
        counted: bool,
    ) -> Vec<Result<(), SignatureError>> {
        let mut results = vec![Ok(()); candidates.len()];
        let hashes: Vec<Option<Hash>> = candidates
            .iter()
            .map(|c| c.as_ref().map(|c| c.hash))
            .collect();
        let cached = self.cache.lookup(&hashes, !counted);
        let todo: Vec<&Candidate<'_>> = candidates
            .iter()
            .zip(&cached)
            .filter_map(|(c, hit)| c.as_ref().filter(|_| !hit))
            .collect();
        if todo.is_empty() {
            return results;
        }
        // The signed message is the encoding minus the trailing signature: no re-encoding.
        let messages: Vec<&[u8]> = todo
            .iter()
            .map(|c| &c.encoded[..c.encoded.len() - Signature::LEN])
            .collect();
        let items: Vec<SigItem<'_>> = todo
            .iter()
            .zip(&messages)
            .map(|(c, message)| SigItem {
                key: &c.tx.transfer.from,
                domain: domain::TX,
                message,
                signature: &c.tx.signature,
            })
            .collect();
        let keys = self
            .keys
            .get_many(&items.iter().map(|it| it.key).collect::<Vec<_>>());
        let verdicts = verify_batch_with_keys(&items, &keys);
        let mut valid = Vec::with_capacity(todo.len());
        let mut next = verdicts.into_iter();
        for (i, hit) in cached.iter().enumerate() {
            if candidates[i].is_none() || *hit {
                continue;
            }
            let verdict = next.next().expect("one verdict per candidate to verify");
            if verdict.is_ok() {
                valid.push(hashes[i].expect("candidates have hashes"));
            }
            results[i] = verdict;
        }
        self.cache.insert_all(valid);
        results
    }
}

/// A decoded transaction with its canonical bytes and hash.
struct Candidate<'a> {
    tx: &'a SignedTx,
    encoded: &'a [u8],
    hash: Hash,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;
    use crate::tx::{Transfer, tests::transfer};

    fn txs(n: usize) -> Vec<SignedTx> {
        let alice = Keypair::from_seed("alice");
        (0..n as u64)
            .map(|i| transfer(&alice, alice.public(), 1, i))
            .collect()
    }

    #[test]
    fn batch_finds_each_bad_signature() {
        let mut all = txs(40);
        all[3].signature.0[0] ^= 1;
        all[17].transfer.amount += 1;
        let msgs: Vec<Vec<u8>> = all.iter().map(|t| t.signed_message()).collect();
        let items: Vec<SigItem<'_>> = all
            .iter()
            .zip(&msgs)
            .map(|(t, m)| SigItem {
                key: &t.transfer.from,
                domain: domain::TX,
                message: m,
                signature: &t.signature,
            })
            .collect();
        let results = verify_batch(&items);
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r.is_err(), i == 3 || i == 17, "tx {i}: {r:?}");
        }
    }

    /// A client crafts a transfer whose signature's R is rB + T, T of order 8. Under dalek's
    /// non-cofactored batch it passed only in batches whose coefficient for it was a multiple
    /// of 8 (so one node accepted what its peers refused); now its verdict is one, alone and
    /// in each of 64 different batches, cached keys or not.
    #[test]
    fn a_torsioned_signature_has_one_verdict_alone_and_in_any_batch() {
        let mallory = Keypair::from_seed("mallory");
        let crafted_transfer = Transfer {
            chain_id: "test-chain".into(),
            from: mallory.public(),
            to: Keypair::from_seed("bob").public(),
            amount: 5,
            nonce: 0,
            memo: vec![],
        };
        let message = crate::encoding::encode(&crafted_transfer);
        let signature = crate::ed25519::tests::torsioned_signature(&mallory, &message, 1);
        let crafted = SignedTx {
            transfer: crafted_transfer,
            signature,
        };
        let alone = crafted.verify();
        assert_eq!(alone, Ok(()), "ZIP-215 accepts a torsion component in R");
        let verifier = TxVerifier::new("test-chain", 1, 1 << 16);
        for batch in 0..64u64 {
            let others: Vec<SignedTx> = (0..batch % 7 + 1)
                .map(|i| {
                    let k = Keypair::from_seed(&format!("honest-{batch}-{i}"));
                    transfer(&k, mallory.public(), 1 + batch, i)
                })
                .collect();
            let mut raw: Vec<Vec<u8>> = others.iter().map(SignedTx::encode).collect();
            raw.insert((batch as usize) % raw.len(), crafted.encode());
            // A fresh verifier each time, or the first verdict would be a cache hit.
            let fresh = TxVerifier::new("test-chain", 1, 1 << 16);
            for v in [&fresh, &verifier] {
                let verdicts = v.admit(&raw);
                let at = (batch as usize) % others.len();
                assert_eq!(
                    verdicts[at].as_ref().map(|_| ()).map_err(|e| e.to_string()),
                    Ok(()),
                    "batch {batch}: {verdicts:?}"
                );
                assert!(verdicts.iter().all(Result::is_ok), "batch {batch}");
            }
        }
        // A torsioned R with a wrong s fails alone and in every batch alike.
        let mut broken = crafted.clone();
        broken.signature.0[40] ^= 1;
        assert!(broken.verify().is_err());
        for batch in 0..16u64 {
            let k = Keypair::from_seed(&format!("other-{batch}"));
            let raw = vec![transfer(&k, k.public(), 1, batch).encode(), broken.encode()];
            let verdicts = TxVerifier::new("test-chain", 1, 16).admit(&raw);
            assert!(verdicts[0].is_ok() && verdicts[1].is_err(), "{verdicts:?}");
        }
    }

    #[test]
    fn signed_message_is_the_encoding_without_the_signature() {
        for t in txs(3) {
            let e = t.encode();
            assert_eq!(
                &e[..e.len() - Signature::LEN],
                t.signed_message().as_slice()
            );
        }
    }

    #[test]
    fn weak_key_is_rejected_before_batching() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = PublicKey(identity);
        let sig = Signature([0; 64]);
        let items = [SigItem {
            key: &weak,
            domain: domain::TX,
            message: b"m",
            signature: &sig,
        }];
        assert_eq!(verify_batch(&items), vec![Err(SignatureError::WeakKey)]);
    }

    #[test]
    fn admission_verifies_once_and_reports_errors() {
        let v = TxVerifier::new("test-chain", 2, 1000);
        let mut good = txs(300);
        let mut raw: Vec<Vec<u8>> = good.iter().map(SignedTx::encode).collect();
        good[5].signature.0[1] ^= 0x40;
        raw[5] = good[5].encode();
        raw[7] = vec![1, 2, 3];
        let other_chain = Transfer {
            chain_id: "other".into(),
            ..good[8].transfer.clone()
        }
        .sign(&Keypair::from_seed("alice"));
        raw[8] = other_chain.encode();

        let results = v.admit(&raw);
        assert_eq!(results.len(), 300);
        assert!(matches!(
            results[5],
            Err(TxError::Signature(SignatureError::BadSignature))
        ));
        assert!(matches!(results[7], Err(TxError::Decode(_))));
        assert!(matches!(results[8], Err(TxError::WrongChain { .. })));
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 297);
        let first_misses = v.cache().misses();
        assert_eq!(
            first_misses, 298,
            "every decodable tx on this chain was looked up once"
        );

        // Block validation after admission finds all 297 valid ones in the cache.
        let block: Vec<SignedTx> = results
            .into_iter()
            .filter_map(Result::ok)
            .map(|a| a.tx)
            .collect();
        assert_eq!(v.verify_block_txs(&block), Ok(()));
        assert_eq!(v.cache().hits(), 297);
        assert_eq!(v.cache().misses(), first_misses);

        // A block of transactions never seen: each is one miss, however many looks it takes.
        let unseen: Vec<SignedTx> = (0..5)
            .map(|i| {
                Transfer {
                    chain_id: "test-chain".into(),
                    from: Keypair::from_seed("zed").public(),
                    to: Keypair::from_seed("bob").public(),
                    amount: 1,
                    nonce: 1_000 + i,
                    memo: vec![],
                }
                .sign(&Keypair::from_seed("zed"))
            })
            .collect();
        let misses_before = v.cache().misses();
        assert_eq!(v.verify_block_txs(&unseen), Ok(()));
        assert_eq!(v.cache().misses(), misses_before + 5);

        // The forged copy of a cached tx has another hash, so the cache cannot vouch for it.
        let mut forged = block.clone();
        forged[10].signature.0[2] ^= 1;
        assert_eq!(
            v.verify_block_txs(&forged),
            Err((10, SignatureError::BadSignature))
        );

        // With the ids from block validation: hits are answered without re-encoding, and a
        // forgery under its own (true) id is still verified and refused.
        let ids: Vec<Hash> = forged.iter().map(SignedTx::hash).collect();
        let hits = v.cache().hits();
        assert_eq!(
            v.verify_block_txs_by_id(&forged, &ids),
            Err((10, SignatureError::BadSignature))
        );
        assert_eq!(v.cache().hits(), hits + 296);
    }

    #[test]
    fn cache_is_bounded_and_keeps_recent_entries() {
        let c = VerifiedCache::new(10);
        let hashes: Vec<Hash> = (0..35u8).map(|i| crate::crypto::sha256(&[&[i]])).collect();
        c.insert_all(hashes.iter().copied());
        assert!(c.contains(&hashes[34]));
        assert!(!c.contains(&hashes[0]));
        let g = c.generations.lock().unwrap();
        assert!(g[0].len() + g[1].len() <= 20);
    }
}
