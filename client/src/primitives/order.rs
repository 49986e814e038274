//! One sort for the whole crate: elements ordered by a fixed-size byte key.
//!
//! Each `sort_by_key` call site with its own closure is its own copy of the
//! standard library's stable sort (10–20 KB of code apiece in the browser
//! module). Here the keys are computed once per element (never again per
//! comparison) and sorted as `(key, position)` pairs by the one
//! instantiation of `sort_unstable` the crate needs; the position makes
//! every key distinct, so the order is stable.

/// A sort key, compared byte by byte. Build one with [`key`].
pub type SortKey = [u8; 40];

/// Sorts `v` by `key`, stably (equal keys keep their order).
pub fn sort_by_key<T>(v: &mut Vec<T>, key: impl Fn(&T) -> SortKey) {
    let mut keys: Vec<(SortKey, usize)> = v.iter().map(key).zip(0..).collect();
    sort_keys(&mut keys);
    let mut slots: Vec<Option<T>> = v.drain(..).map(Some).collect();
    // A permutation: every slot is taken exactly once.
    v.extend(keys.iter().filter_map(|&(_, i)| slots[i].take()));
}

#[inline(never)]
fn sort_keys(keys: &mut [(SortKey, usize)]) {
    keys.sort_unstable();
}

/// Builds a [`SortKey`] from parts, most significant first; unused bytes are 0.
pub fn key<const N: usize>(parts: [&[u8]; N]) -> SortKey {
    let mut out = [0u8; 40];
    let mut at = 0;
    for part in parts {
        let end = (at + part.len()).min(out.len());
        out[at..end].copy_from_slice(&part[..end - at]);
        at = end;
    }
    out
}

/// Bytes of `x` that sort as `x` does.
pub fn ascending(x: u64) -> [u8; 8] {
    x.to_be_bytes()
}

/// Bytes of `x` that sort as `Reverse(x)` does.
pub fn descending(x: u64) -> [u8; 8] {
    (!x).to_be_bytes()
}

/// Bytes of `x` that sort as `f64::total_cmp` does, largest first.
pub fn f64_descending(x: f64) -> [u8; 8] {
    let bits = x.to_bits();
    // total_cmp's order: negative values have their magnitude bits inverted,
    // positive ones get the sign bit set, then compare as unsigned.
    let ascending = if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    };
    descending(ascending)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sorts_as_the_standard_stable_sort(v in proptest::collection::vec((0u64..6, 0u64..1000), 0..80)) {
            let mut ours = v.clone();
            sort_by_key(&mut ours, |&(a, _)| key([&descending(a)]));
            let mut theirs = v;
            theirs.sort_by_key(|&(a, _)| core::cmp::Reverse(a));
            prop_assert_eq!(ours, theirs);
        }

        #[test]
        fn f64_keys_order_as_total_cmp(a in any::<f64>(), b in any::<f64>()) {
            prop_assert_eq!(f64_descending(a).cmp(&f64_descending(b)), b.total_cmp(&a));
        }
    }

    #[test]
    fn f64_keys_of_the_special_values() {
        let values = [
            f64::NAN,
            f64::INFINITY,
            1.5,
            0.0,
            -0.0,
            -1.5,
            f64::NEG_INFINITY,
            -f64::NAN,
        ];
        for a in values {
            for b in values {
                assert_eq!(
                    f64_descending(a).cmp(&f64_descending(b)),
                    b.total_cmp(&a),
                    "{a} {b}"
                );
            }
        }
    }

    #[test]
    fn keys_are_built_most_significant_first() {
        assert!(key([&ascending(1), &[0xff; 32]]) < key([&ascending(2), &[0; 32]]));
        assert_eq!(key([&[1u8; 50]]), [1u8; 40]);
    }
}
