//! Binary Merkle root over transaction hashes (RFC 6962 style: leaves and inner nodes are
//! hashed under different prefixes, so a leaf can never pass for an inner node).

use crate::crypto::{Hash, domain, sha256};

pub fn merkle_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return sha256(&[]);
    }
    let mut level: Vec<Hash> = leaves
        .iter()
        .map(|h| sha256(&[domain::MERKLE_LEAF, &h.0]))
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => sha256(&[domain::MERKLE_NODE, &l.0, &r.0]),
                // An odd node is promoted unchanged to the next level.
                [single] => *single,
                _ => unreachable!("chunks(2) yields one or two items"),
            })
            .collect();
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
