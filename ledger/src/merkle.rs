//! Binary Merkle root over transaction hashes (RFC 6962 style: leaves and inner nodes are
//! hashed under different prefixes, so a leaf can never pass for an inner node).

use bincode::{Decode, Encode};

use crate::crypto::{Hash, domain, sha256};

/// The hashes that lead from one leaf to the root: a transaction's inclusion in a block.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct MerklePath {
    /// The leaf's place among `leaves`.
    pub index: u32,
    pub leaves: u32,
    /// One per level where the leaf's node has a sibling, bottom up.
    pub siblings: Vec<Hash>,
}

/// The path of `leaves[index]` (None: no such leaf).
pub fn merkle_path(leaves: &[Hash], index: usize) -> Option<MerklePath> {
    if index >= leaves.len() {
        return None;
    }
    let mut level: Vec<Hash> = leaves
        .iter()
        .map(|h| sha256(&[domain::MERKLE_LEAF, &h.0]))
        .collect();
    let (mut at, mut siblings) = (index, Vec::new());
    while level.len() > 1 {
        let sibling = at ^ 1;
        if sibling < level.len() {
            siblings.push(level[sibling]);
        }
        level = next_level(&level);
        at /= 2;
    }
    Some(MerklePath {
        index: index as u32,
        leaves: leaves.len() as u32,
        siblings,
    })
}

impl MerklePath {
    /// The root this path gives for `leaf`, or None if its shape does not fit its leaf count.
    pub fn root_of(&self, leaf: &Hash) -> Option<Hash> {
        let (mut at, mut width) = (self.index as usize, self.leaves as usize);
        if at >= width {
            return None;
        }
        let mut node = sha256(&[domain::MERKLE_LEAF, &leaf.0]);
        let mut siblings = self.siblings.iter();
        while width > 1 {
            if at ^ 1 < width {
                let s = siblings.next()?;
                node = if at % 2 == 0 {
                    sha256(&[domain::MERKLE_NODE, &node.0, &s.0])
                } else {
                    sha256(&[domain::MERKLE_NODE, &s.0, &node.0])
                };
            }
            at /= 2;
            width = width.div_ceil(2);
        }
        // Every sibling used: a longer path is not this tree's.
        siblings.next().is_none().then_some(node)
    }
}

fn next_level(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [l, r] => sha256(&[domain::MERKLE_NODE, &l.0, &r.0]),
            // An odd node is promoted unchanged to the next level.
            [single] => *single,
            _ => unreachable!("chunks(2) yields one or two items"),
        })
        .collect()
}

pub fn merkle_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return sha256(&[]);
    }
    let mut level: Vec<Hash> = leaves
        .iter()
        .map(|h| sha256(&[domain::MERKLE_LEAF, &h.0]))
        .collect();
    while level.len() > 1 {
        level = next_level(&level);
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u8) -> Hash {
        sha256(&[&[i]])
    }

    #[test]
    fn root_depends_on_every_leaf_and_order() {
        let leaves: Vec<Hash> = (0..5).map(h).collect();
        let root = merkle_root(&leaves);
        for i in 0..leaves.len() {
            let mut changed = leaves.clone();
            changed[i] = h(99);
            assert_ne!(merkle_root(&changed), root, "leaf {i} not covered");
        }
        let mut swapped = leaves.clone();
        swapped.swap(0, 1);
        assert_ne!(merkle_root(&swapped), root);
        assert_ne!(merkle_root(&leaves[..4]), root);
    }

    #[test]
    fn every_leaf_has_a_path_to_the_root_and_no_other_leaf_does() {
        for n in 1..=17u8 {
            let leaves: Vec<Hash> = (0..n).map(h).collect();
            let root = merkle_root(&leaves);
            for i in 0..n as usize {
                let path = merkle_path(&leaves, i).unwrap();
                assert_eq!(path.root_of(&leaves[i]), Some(root), "{n} leaves, leaf {i}");
                assert_ne!(path.root_of(&h(200)), Some(root));
                let mut longer = path.clone();
                longer.siblings.push(h(1));
                assert_eq!(longer.root_of(&leaves[i]), None);
                if !path.siblings.is_empty() {
                    let mut moved = path.clone();
                    moved.index ^= 1;
                    assert_ne!(moved.root_of(&leaves[i]), Some(root), "{n}, {i}");
                }
            }
            assert!(merkle_path(&leaves, n as usize).is_none());
        }
    }

    #[test]
    fn small_trees_match_hand_computation() {
        let (a, b, c) = (h(1), h(2), h(3));
        let la = sha256(&[domain::MERKLE_LEAF, &a.0]);
        let lb = sha256(&[domain::MERKLE_LEAF, &b.0]);
        let lc = sha256(&[domain::MERKLE_LEAF, &c.0]);
        assert_eq!(merkle_root(&[a]), la);
        let ab = sha256(&[domain::MERKLE_NODE, &la.0, &lb.0]);
        assert_eq!(merkle_root(&[a, b]), ab);
        assert_eq!(
            merkle_root(&[a, b, c]),
            sha256(&[domain::MERKLE_NODE, &ab.0, &lc.0])
        );
    }
}
