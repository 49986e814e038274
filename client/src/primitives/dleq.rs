//! Chaum–Pedersen DLEQ proofs (RFC 9497 §2.2): the SRS proves that
//! `P2 = b2·E` uses the same `b2` as the grant's commitment `B2 = b2·G`.

use p256::elliptic_curve::ff::Field;
use p256::elliptic_curve::ops::{LinearCombination, MulByGeneratorVartime};
use p256::{NonZeroScalar, ProjectivePoint, Scalar};
use rand_core::CryptoRng;

use crate::error::{Error, Result};
use crate::primitives::{
    any_scalar_from_bytes, h2s, labels, random_bytes, scalar_from_bytes, scalar_to_bytes, Point,
    POINT_LEN,
};
use crate::secret::SecretScalar;

/// Encoded proof length: `c ‖ s`.
pub const PROOF_LEN: usize = 64;

/// The public statement a proof is about, plus the transcript binding.
#[derive(Clone, Copy, Debug)]
pub struct DleqStatement<'a> {
    /// `B2 = b2·G` from the grant.
    pub b2_commitment: &'a Point,
    /// The capsule `E`.
    pub capsule: &'a Point,
    /// The answer `P2 = b2·E`.
    pub p2: &'a Point,
    /// The grant id.
    pub grant_id: &'a [u8; 16],
    /// The request nonce.
    pub nonce: &'a [u8; 16],
}

impl DleqStatement<'_> {
    fn challenge(&self, t1: &Point, t2: &Point) -> Result<NonZeroScalar> {
        let [b2c, e, p2, t1, t2] =
            Point::batch_to_bytes([self.b2_commitment, self.capsule, self.p2, t1, t2]);
        self.challenge_from(&b2c, &e, &p2, &t1, &t2)
    }

    fn challenge_from(
        &self,
        b2c: &[u8; POINT_LEN],
        e: &[u8; POINT_LEN],
        p2: &[u8; POINT_LEN],
        t1: &[u8; POINT_LEN],
        t2: &[u8; POINT_LEN],
    ) -> Result<NonZeroScalar> {
        h2s(
            labels::DLEQ_CHALLENGE,
            &[
                &Point::GENERATOR_BYTES,
                b2c,
                e,
                p2,
                t1,
                t2,
                self.grant_id,
                self.nonce,
            ],
        )
    }
}

/// A DLEQ proof `(c, s)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DleqProof {
    c: Scalar,
    s: Scalar,
}

impl DleqProof {
    /// GenerateProof with the hedged nonce `k = H2S(b2 ‖ transcript ‖ fresh random)`.
    pub fn prove<R: CryptoRng + ?Sized>(
        b2: &SecretScalar,
        st: &DleqStatement<'_>,
        rng: &mut R,
    ) -> Result<DleqProof> {
        let fresh: [u8; 32] = random_bytes(rng);
        let [b2c, e, p2] = Point::batch_to_bytes([st.b2_commitment, st.capsule, st.p2]);
        let k = SecretScalar::from_nonzero(h2s(
            labels::DLEQ_NONCE,
            &[
                b2.to_bytes().as_ref(),
                &b2c,
                &e,
                &p2,
                st.grant_id,
                st.nonce,
                &fresh,
            ],
        )?);
        let t1 = k.public();
        let t2 = k.mul(st.capsule)?;
        let [t1, t2] = Point::batch_to_bytes([&t1, &t2]);
        let c = st.challenge_from(&b2c, &e, &p2, &t1, &t2)?;
        let s = *k.scalar() - *c.as_ref() * b2.scalar();
        Ok(DleqProof { c: *c.as_ref(), s })
    }

    /// VerifyProof: recomputes `T1 = s·G + c·B2`, `T2 = s·E + c·P2` and the
    /// challenge. Rejects zero `c` or `s`.
    pub fn verify(&self, st: &DleqStatement<'_>) -> Result<()> {
        if bool::from(self.c.is_zero()) || bool::from(self.s.is_zero()) {
            return Err(Error::BadProof);
        }
        // Everything here is public, so variable-time arithmetic is fine:
        // the generator's table for `s·G`, and one multi-scalar pass for the
        // second pair.
        let t1 = Point::from_projective(ProjectivePoint::mul_by_generator_and_mul_add_vartime(
            &self.s,
            &self.c,
            &st.b2_commitment.projective(),
        ))
        .map_err(|_| Error::BadProof)?;
        let t2 = Point::from_projective(ProjectivePoint::lincomb_vartime(&[
            (st.capsule.projective(), self.s),
            (st.p2.projective(), self.c),
        ]))
        .map_err(|_| Error::BadProof)?;
        let c = st.challenge(&t1, &t2)?;
        if *c.as_ref() == self.c {
            Ok(())
        } else {
            Err(Error::BadProof)
        }
    }

    /// `c ‖ s`, 64 bytes.
    pub fn to_bytes(&self) -> [u8; PROOF_LEN] {
        let mut out = [0u8; PROOF_LEN];
        out[..32].copy_from_slice(&scalar_to_bytes(&self.c));
        out[32..].copy_from_slice(&scalar_to_bytes(&self.s));
        out
    }

    /// Decodes; both scalars must be canonical and non-zero.
    pub fn from_bytes(bytes: &[u8]) -> Result<DleqProof> {
        if bytes.len() != PROOF_LEN {
            return Err(Error::BadProof);
        }
        let c = scalar_from_bytes(&bytes[..32]).map_err(|_| Error::BadProof)?;
        let s = any_scalar_from_bytes(&bytes[32..]).map_err(|_| Error::BadProof)?;
        if bool::from(s.is_zero()) {
            return Err(Error::BadProof);
        }
        Ok(DleqProof { c: *c.as_ref(), s })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::os_rng;

    #[test]
    fn generator_bytes_and_batch_encoding_match_the_single_encoding() {
        assert_eq!(Point::GENERATOR_BYTES, Point::generator().to_bytes());
        let mut rng = os_rng();
        let a = SecretScalar::random(&mut rng).public();
        let b = SecretScalar::random(&mut rng).public();
        let sum = Point::from_projective(a + b).unwrap();
        assert_eq!(
            Point::batch_to_bytes([&a, &sum, &b, &Point::generator()]),
            [
                a.to_bytes(),
                sum.to_bytes(),
                b.to_bytes(),
                Point::GENERATOR_BYTES
            ]
        );
    }

    #[test]
    fn proof_verifies_and_binds_every_input() {
        let mut rng = os_rng();
        let b2 = SecretScalar::random(&mut rng);
        let b2c = b2.public();
        let e = SecretScalar::random(&mut rng).public();
        let p2 = b2.mul(&e).unwrap();
        let (gid, nonce) = ([1u8; 16], [2u8; 16]);
        let st = DleqStatement {
            b2_commitment: &b2c,
            capsule: &e,
            p2: &p2,
            grant_id: &gid,
            nonce: &nonce,
        };
        let proof = DleqProof::prove(&b2, &st, &mut rng).unwrap();
        proof.verify(&st).unwrap();
        let back = DleqProof::from_bytes(&proof.to_bytes()).unwrap();
        back.verify(&st).unwrap();

        let other = SecretScalar::random(&mut rng).public();
        let other_nonce = [3u8; 16];
        for bad in [
            DleqStatement { p2: &other, ..st },
            DleqStatement {
                capsule: &other,
                ..st
            },
            DleqStatement {
                b2_commitment: &other,
                ..st
            },
            DleqStatement {
                nonce: &other_nonce,
                ..st
            },
            DleqStatement {
                grant_id: &other_nonce,
                ..st
            },
        ] {
            assert_eq!(proof.verify(&bad), Err(Error::BadProof));
        }
        // A wrong P2 with an honestly computed proof for it fails too.
        let wrong = SecretScalar::random(&mut rng);
        let p2_wrong = wrong.mul(&e).unwrap();
        let st_wrong = DleqStatement {
            p2: &p2_wrong,
            ..st
        };
        let forged = DleqProof::prove(&wrong, &st_wrong, &mut rng).unwrap();
        assert_eq!(forged.verify(&st_wrong), Err(Error::BadProof));
        assert_eq!(DleqProof::from_bytes(&[0u8; 64]), Err(Error::BadProof));
        assert_eq!(DleqProof::from_bytes(&[0xffu8; 64]), Err(Error::BadProof));
    }
}
