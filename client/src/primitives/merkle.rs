//! RFC 9162 Merkle trees over SHA-256: `leaf = H(0x00 ‖ d)`, `node = H(0x01 ‖ l ‖ r)`.
//! Used for a blob's `chunk_root` and for the SRS audit log.

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A 32-byte tree hash.
pub type Hash = [u8; 32];

/// `H(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `H(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly less than `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The RFC 9162 Merkle tree hash over already-hashed leaves.
/// The empty tree hashes to `SHA-256("")`.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path of leaf `index` in a tree of `leaves` (RFC 9162 §2.1.3.1).
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Result<Vec<Hash>> {
    if index >= leaves.len() {
        return Err(Error::BadProof);
    }
    let mut path = Vec::new();
    path_rec(leaves, index, &mut path);
    Ok(path)
}

fn path_rec(leaves: &[Hash], m: usize, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path_rec(&leaves[..k], m, out);
        out.push(root(&leaves[k..]));
    } else {
        path_rec(&leaves[k..], m - k, out);
        out.push(root(&leaves[..k]));
    }
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    tree_size: u64,
    path: &[Hash],
    expected_root: &Hash,
) -> Result<()> {
    if index >= tree_size {
        return Err(Error::BadProof);
    }
    let (mut fn_, mut sn) = (index, tree_size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return Err(Error::BadProof);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            skip_right_edges(&mut fn_, &mut sn);
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn == 0 && r == *expected_root {
        Ok(())
    } else {
        Err(Error::BadProof)
    }
}

/// The consistency proof between the tree of the first `first` leaves and the
/// tree of all `leaves` (RFC 9162 §2.1.4.1), for `0 < first ≤ leaves.len()`.
pub fn consistency_proof(leaves: &[Hash], first: usize) -> Result<Vec<Hash>> {
    if first == 0 || first > leaves.len() {
        return Err(Error::BadProof);
    }
    let mut out = Vec::new();
    subproof(first, leaves, true, &mut out);
    Ok(out)
}

fn subproof(m: usize, leaves: &[Hash], whole: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !whole {
            out.push(root(leaves));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &leaves[..k], whole, out);
        out.push(root(&leaves[k..]));
    } else {
        subproof(m - k, &leaves[k..], false, out);
        out.push(root(&leaves[..k]));
    }
}

/// Verifies a consistency proof (RFC 9162 §2.1.4.2): the tree of size
/// `second` with root `second_root` extends the tree of size `first` with
/// root `first_root`.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    path: &[Hash],
) -> Result<()> {
    if first == 0 || first > second {
        return Err(Error::BadProof);
    }
    if first == second {
        return if path.is_empty() && first_root == second_root {
            Ok(())
        } else {
            Err(Error::BadProof)
        };
    }
    let mut path: Vec<Hash> = path.to_vec();
    if first.is_power_of_two() {
        path.insert(0, *first_root);
    }
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = match path.first() {
        Some(h) => (*h, *h),
        None => return Err(Error::BadProof),
    };
    for c in &path[1..] {
        if sn == 0 {
            return Err(Error::BadProof);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            skip_right_edges(&mut fn_, &mut sn);
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if fr == *first_root && sr == *second_root && sn == 0 {
        Ok(())
    } else {
        Err(Error::BadProof)
    }
}

/// An append-only RFC 9162 tree kept as its frontier: the roots of the
/// perfect subtrees that make up the tree, largest first. Appending, the root
/// and the audit path of the newest leaf each cost O(log n).
#[derive(Clone, Debug, Default)]
pub struct Frontier {
    /// `(height, root)` of each perfect subtree, left to right.
    nodes: Vec<(u32, Hash)>,
    size: u64,
}

impl Frontier {
    /// Builds the frontier of existing leaves.
    pub fn from_leaves(leaves: &[Hash]) -> Frontier {
        let mut f = Frontier::default();
        for l in leaves {
            f.push(*l);
        }
        f
    }

    /// Appends a leaf hash and returns its audit path (RFC 9162 §2.1.3.1).
    /// The newest leaf's path is exactly the frontier before the append,
    /// smallest subtree first.
    pub fn push(&mut self, leaf: Hash) -> Vec<Hash> {
        let path = self.nodes.iter().rev().map(|&(_, h)| h).collect();
        self.append(leaf);
        path
    }

    /// Appends a leaf hash (O(log n), no allocation once the frontier has
    /// grown to its height).
    pub fn append(&mut self, leaf: Hash) {
        let mut node = (0u32, leaf);
        while let Some(&(h, left)) = self.nodes.last() {
            if h != node.0 {
                break;
            }
            self.nodes.pop();
            node = (h + 1, node_hash(&left, &node.1));
        }
        self.nodes.push(node);
        self.size += 1;
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree hash (equal to [`root`] over all leaves).
    pub fn root(&self) -> Hash {
        let mut it = self.nodes.iter().rev();
        match it.next() {
            None => Sha256::digest([]).into(),
            Some(&(_, last)) => it.fold(last, |acc, &(_, left)| node_hash(&left, &acc)),
        }
    }
}

/// An append-only RFC 9162 tree that keeps the root of every complete
/// perfect subtree (about 2n hashes for n leaves), so that the root of any
/// prefix, the audit path of any leaf under any prefix and the consistency
/// proof between any two prefixes each cost O(log² n) hash lookups and at
/// most O(log² n) hashes: the SRS answers them for past sizes without
/// rehashing the log.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    /// `levels[h][i]`: the root of the perfect subtree of height `h` over
    /// leaves `[i·2^h, (i+1)·2^h)`, for every such subtree already complete.
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// Appends a leaf hash (amortized O(1) node hashes).
    pub fn push(&mut self, leaf: Hash) {
        let mut node = leaf;
        let mut h = 0;
        loop {
            if self.levels.len() == h {
                self.levels.push(Vec::new());
            }
            let level = &mut self.levels[h];
            level.push(node);
            if !level.len().is_multiple_of(2) {
                return;
            }
            node = node_hash(&level[level.len() - 2], &level[level.len() - 1]);
            h += 1;
        }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// The root of `[start, start + n)`, `n ≥ 1`, inside the tree.
    fn range_root(&self, start: usize, n: usize) -> Hash {
        if n.is_power_of_two() && start.is_multiple_of(n) {
            let h = n.trailing_zeros() as usize;
            if let Some(&node) = self.levels.get(h).and_then(|l| l.get(start >> h)) {
                return node;
            }
        }
        if n == 1 {
            // Unreachable for ranges inside the tree (every leaf is kept).
            return Sha256::digest([]).into();
        }
        let k = split(n);
        node_hash(
            &self.range_root(start, k),
            &self.range_root(start + k, n - k),
        )
    }

    fn check_size(&self, size: u64) -> Result<usize> {
        if size > self.size() {
            return Err(Error::BadProof);
        }
        usize::try_from(size).map_err(|_| Error::TooLarge("tree size"))
    }

    /// The tree hash of the first `size` leaves (the empty tree: `SHA-256("")`).
    pub fn root_at(&self, size: u64) -> Result<Hash> {
        let n = self.check_size(size)?;
        Ok(if n == 0 {
            Sha256::digest([]).into()
        } else {
            self.range_root(0, n)
        })
    }

    /// The audit path of leaf `index` in the tree of the first `size`
    /// leaves (equal to [`inclusion_proof`] over those leaves).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>> {
        let n = self.check_size(size)?;
        if index >= size {
            return Err(Error::BadProof);
        }
        let mut out = Vec::new();
        self.path_rec(0, n, index as usize, &mut out);
        Ok(out)
    }

    fn path_rec(&self, start: usize, n: usize, m: usize, out: &mut Vec<Hash>) {
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            self.path_rec(start, k, m, out);
            out.push(self.range_root(start + k, n - k));
        } else {
            self.path_rec(start + k, n - k, m - k, out);
            out.push(self.range_root(start, k));
        }
    }

    /// The consistency proof from the tree of the first `first` leaves to
    /// the tree of the first `second` (equal to [`consistency_proof`] over
    /// those leaves), for `0 < first ≤ second ≤ size`.
    pub fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>> {
        let n = self.check_size(second)?;
        if first == 0 || first > second {
            return Err(Error::BadProof);
        }
        let mut out = Vec::new();
        self.subproof(first as usize, 0, n, true, &mut out);
        Ok(out)
    }

    fn subproof(&self, m: usize, start: usize, n: usize, whole: bool, out: &mut Vec<Hash>) {
        if m == n {
            if !whole {
                out.push(self.range_root(start, n));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, start, k, whole, out);
            out.push(self.range_root(start + k, n - k));
        } else {
            self.subproof(m - k, start + k, n - k, false, out);
            out.push(self.range_root(start, k));
        }
    }
}

/// RFC 9162 §2.1.3.2/§2.1.4.2: after hashing at a right edge, shift `fn`
/// and `sn` right until `fn`'s low bit is set (or `fn` is 0).
fn skip_right_edges(fn_: &mut u64, sn: &mut u64) {
    while *fn_ & 1 == 0 && *fn_ != 0 {
        *fn_ >>= 1;
        *sn >>= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_be_bytes()))
            .collect()
    }

    #[test]
    fn inclusion_proofs_verify_for_every_size_and_index() {
        for n in 1..=33 {
            let l = leaves(n);
            let r = root(&l);
            for i in 0..n {
                let p = inclusion_proof(&l, i).expect("proof");
                verify_inclusion(&l[i], i as u64, n as u64, &p, &r).expect("verifies");
                if n > 1 {
                    let other = (i + 1) % n;
                    assert!(verify_inclusion(&l[other], i as u64, n as u64, &p, &r).is_err());
                    assert!(verify_inclusion(&l[i], other as u64, n as u64, &p, &r).is_err());
                }
            }
        }
    }

    #[test]
    fn rfc9162_shape() {
        // Three leaves: H(H(l0,l1), l2).
        let l = leaves(3);
        assert_eq!(root(&l), node_hash(&node_hash(&l[0], &l[1]), &l[2]));
        assert_eq!(
            hex::encode(root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn consistency_proofs_verify_for_every_pair_of_sizes() {
        let all = leaves(40);
        for n in 1..=40 {
            let rn = root(&all[..n]);
            for m in 1..=n {
                let rm = root(&all[..m]);
                let p = consistency_proof(&all[..n], m).expect("proof");
                verify_consistency(m as u64, n as u64, &rm, &rn, &p).expect("verifies");
                if m < n {
                    // A different old root, a different new root, or a cut path fails.
                    assert!(
                        verify_consistency(m as u64, n as u64, &leaf_hash(b"x"), &rn, &p).is_err()
                    );
                    assert!(
                        verify_consistency(m as u64, n as u64, &rm, &leaf_hash(b"x"), &p).is_err()
                    );
                    assert!(
                        verify_consistency(m as u64, n as u64, &rm, &rn, &p[..p.len() - 1])
                            .is_err()
                    );
                }
            }
        }
        assert!(consistency_proof(&all[..3], 0).is_err());
        assert!(consistency_proof(&all[..3], 4).is_err());
    }

    #[test]
    fn frontier_matches_the_full_tree() {
        let all = leaves(130);
        let mut f = Frontier::default();
        assert_eq!(f.root(), root(&[]));
        for n in 1..=all.len() {
            let path = f.push(all[n - 1]);
            assert_eq!(f.size(), n as u64);
            assert_eq!(f.root(), root(&all[..n]), "root at {n}");
            assert_eq!(
                path,
                inclusion_proof(&all[..n], n - 1).expect("proof"),
                "path at {n}"
            );
        }
        assert_eq!(Frontier::from_leaves(&all).root(), root(&all));
    }

    #[test]
    fn the_kept_tree_gives_the_reference_roots_paths_and_proofs_for_every_prefix() {
        let all = leaves(70);
        let mut t = Tree::default();
        assert_eq!(t.root_at(0).expect("empty"), root(&[]));
        for l in &all {
            t.push(*l);
        }
        assert_eq!(t.size(), 70);
        for n in 0..=all.len() {
            assert_eq!(
                t.root_at(n as u64).expect("root"),
                root(&all[..n]),
                "root {n}"
            );
            for i in 0..n {
                assert_eq!(
                    t.inclusion_proof(i as u64, n as u64).expect("path"),
                    inclusion_proof(&all[..n], i).expect("reference"),
                    "path {i} of {n}"
                );
            }
            for m in 1..=n {
                assert_eq!(
                    t.consistency_proof(m as u64, n as u64).expect("proof"),
                    consistency_proof(&all[..n], m).expect("reference"),
                    "proof {m} to {n}"
                );
            }
            assert!(t.inclusion_proof(n as u64, n as u64).is_err());
        }
        assert!(t.root_at(71).is_err());
        assert!(t.inclusion_proof(3, 71).is_err());
        assert!(t.consistency_proof(0, 5).is_err());
        assert!(t.consistency_proof(6, 5).is_err());
        assert!(t.consistency_proof(5, 71).is_err());
    }
}
