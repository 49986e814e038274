//! GF(2^8) for the shard code: the field `reed-solomon-erasure`'s
//! `galois_8` defines (polynomial `x^8 + x^4 + x^3 + x^2 + 1`, generator 2),
//! from log and exponent tables of 766 bytes built at compile time.
//!
//! `galois_8` multiplies through a static 256 × 256 product table: 64 KiB
//! that gzip cannot shrink, an eighth of the browser module. The code
//! itself (the Vandermonde-derived matrix, encoding, reconstruction) stays
//! the crate's, over this field; a slice product builds the one row of that
//! table it needs (256 entries) and then does the same lookups, so the
//! bytes and the speed are the same. `tests::same_field_as_galois_8` checks
//! every product, quotient and power against `galois_8`, and the shard
//! vectors pin the coded bytes.

/// Elements of the field.
const ORDER: usize = 256;

/// `LOG[x]` for `x ≠ 0` (`LOG[0]` is unused).
const LOG: [u8; ORDER] = tables().0;
/// `EXP[i] = 2^i`, doubled in length so a sum of two logs needs no reduction.
const EXP: [u8; 2 * ORDER - 2] = tables().1;

const fn tables() -> ([u8; ORDER], [u8; 2 * ORDER - 2]) {
    let mut log = [0u8; ORDER];
    let mut exp = [0u8; 2 * ORDER - 2];
    let mut x: usize = 1;
    let mut i = 0;
    while i < ORDER - 1 {
        log[x] = i as u8;
        exp[i] = x as u8;
        exp[i + ORDER - 1] = x as u8;
        x <<= 1;
        if x >= ORDER {
            // x^8 = x^4 + x^3 + x^2 + 1 (0x11d).
            x ^= 0x11d;
        }
        i += 1;
    }
    (log, exp)
}

/// `a · b`.
fn mul(a: u8, b: u8) -> u8 {
    if a == 0 || b == 0 {
        0
    } else {
        EXP[usize::from(LOG[usize::from(a)]) + usize::from(LOG[usize::from(b)])]
    }
}

/// The products `c · x` for every `x`: one row of the product table.
fn row(c: u8) -> [u8; ORDER] {
    let mut out = [0u8; ORDER];
    for (x, o) in (0..=255u8).zip(out.iter_mut()) {
        *o = mul(c, x);
    }
    out
}

/// The field, for `reed_solomon_erasure::ReedSolomon<Gf256>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Gf256;

impl reed_solomon_erasure::Field for Gf256 {
    const ORDER: usize = ORDER;
    type Elem = u8;

    fn add(a: u8, b: u8) -> u8 {
        a ^ b
    }

    fn mul(a: u8, b: u8) -> u8 {
        mul(a, b)
    }

    /// `a / b`. The crate divides only by pivots it has found non-zero
    /// (a singular matrix is its error); `b = 0` gives 0 here rather than a
    /// panic.
    fn div(a: u8, b: u8) -> u8 {
        if a == 0 || b == 0 {
            0
        } else {
            let (la, lb) = (LOG[usize::from(a)], LOG[usize::from(b)]);
            EXP[usize::from(la) + (ORDER - 1) - usize::from(lb)]
        }
    }

    fn exp(a: u8, n: usize) -> u8 {
        if n == 0 {
            1
        } else if a == 0 {
            0
        } else {
            EXP[usize::from(LOG[usize::from(a)]) * n % (ORDER - 1)]
        }
    }

    fn zero() -> u8 {
        0
    }

    fn one() -> u8 {
        1
    }

    fn nth_internal(n: usize) -> u8 {
        n as u8
    }

    fn mul_slice(c: u8, input: &[u8], out: &mut [u8]) {
        let row = row(c);
        for (o, &x) in out.iter_mut().zip(input) {
            *o = row[usize::from(x)];
        }
    }

    fn mul_slice_add(c: u8, input: &[u8], out: &mut [u8]) {
        let row = row(c);
        for (o, &x) in out.iter_mut().zip(input) {
            *o ^= row[usize::from(x)];
        }
    }
}

/// Reed–Solomon over [`Gf256`].
pub(crate) type ReedSolomon = reed_solomon_erasure::ReedSolomon<Gf256>;

#[cfg(test)]
mod tests {
    use super::*;
    use reed_solomon_erasure::{galois_8, Field};

    #[test]
    fn same_field_as_galois_8() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                assert_eq!(Gf256::mul(a, b), galois_8::Field::mul(a, b), "{a}·{b}");
                if b != 0 {
                    assert_eq!(Gf256::div(a, b), galois_8::Field::div(a, b), "{a}/{b}");
                }
            }
            for n in [0, 1, 2, 3, 7, 254, 255, 256, 511, 1000] {
                assert_eq!(Gf256::exp(a, n), galois_8::Field::exp(a, n), "{a}^{n}");
            }
            let input: Vec<u8> = (0..=255u8).rev().collect();
            let (mut ours, mut theirs) = (vec![9u8; 256], vec![9u8; 256]);
            Gf256::mul_slice_add(a, &input, &mut ours);
            galois_8::Field::mul_slice_add(a, &input, &mut theirs);
            assert_eq!(ours, theirs);
            Gf256::mul_slice(a, &input, &mut ours);
            galois_8::Field::mul_slice(a, &input, &mut theirs);
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn the_same_code_as_galois_8() {
        for (k, parity) in [(2, 1), (3, 2), (4, 4), (10, 6)] {
            let data: Vec<Vec<u8>> = (0..k)
                .map(|i| (0..300).map(|j| (i * 131 + j * 7 + j / 5) as u8).collect())
                .collect();
            let coded = |mut shards: Vec<Vec<u8>>, ours: bool| {
                shards.extend((0..parity).map(|_| vec![0u8; 300]));
                if ours {
                    ReedSolomon::new(k, parity)
                        .unwrap()
                        .encode(&mut shards)
                        .unwrap();
                } else {
                    galois_8::ReedSolomon::new(k, parity)
                        .unwrap()
                        .encode(&mut shards)
                        .unwrap();
                }
                shards
            };
            let ours = coded(data.clone(), true);
            assert_eq!(ours, coded(data, false), "{k}+{parity}");
            // Any k shards give the data back: drop the first `parity`.
            let mut damaged: Vec<Option<Vec<u8>>> = ours.iter().cloned().map(Some).collect();
            for s in damaged.iter_mut().take(parity) {
                *s = None;
            }
            ReedSolomon::new(k, parity)
                .unwrap()
                .reconstruct(&mut damaged)
                .unwrap();
            let back: Vec<Vec<u8>> = damaged.into_iter().map(|s| s.unwrap()).collect();
            assert_eq!(back, ours, "{k}+{parity} reconstructed");
        }
    }
}
