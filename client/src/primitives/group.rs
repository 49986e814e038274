//! The group: validated P-256 points and canonical scalars.

use p256::elliptic_curve::ff::PrimeField;
use p256::elliptic_curve::group::{Group, GroupEncoding};
use p256::elliptic_curve::point::AffineCoordinates;
use p256::elliptic_curve::sec1::{FromSec1Point, ToSec1Point};
use p256::{AffinePoint, NonZeroScalar, ProjectivePoint, Scalar};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Length of a compressed SEC1 point.
pub const POINT_LEN: usize = 33;
/// Length of a scalar.
pub const SCALAR_LEN: usize = 32;

/// A validated P-256 point: on the curve and never the identity.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Point(ProjectivePoint);

impl Point {
    /// The generator `G`.
    pub fn generator() -> Point {
        Point(ProjectivePoint::GENERATOR)
    }
    /// The compressed encoding of `G` (the DLEQ challenge hashes it on every
    /// proof and check; a constant spares a field inversion each time).
    pub const GENERATOR_BYTES: [u8; POINT_LEN] = [
        0x03, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4,
        0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8,
        0x98, 0xc2, 0x96,
    ];
    /// `k·G` for a non-zero scalar (never the identity), through the
    /// generator's precomputed table (constant time: `k` may be secret).
    pub fn mul_base(k: &NonZeroScalar) -> Point {
        Point(ProjectivePoint::mul_by_generator(k.as_ref()))
    }
    /// Wraps a projective point, refusing the identity.
    pub fn from_projective(p: ProjectivePoint) -> Result<Point> {
        if bool::from(p.is_identity()) {
            Err(Error::InvalidPoint)
        } else {
            Ok(Point(p))
        }
    }
    /// The inner projective point.
    pub fn projective(&self) -> ProjectivePoint {
        self.0
    }
    /// `k·self`, refusing an identity result.
    pub fn mul(&self, k: &Scalar) -> Result<Point> {
        Point::from_projective(self.0 * k)
    }
    /// 33-byte compressed SEC1 encoding.
    pub fn to_bytes(&self) -> [u8; POINT_LEN] {
        let mut out = [0u8; POINT_LEN];
        out.copy_from_slice(&self.0.to_affine().to_bytes());
        out
    }
    /// The compressed encodings of several points with one field inversion
    /// (Montgomery's trick) instead of one each; the same bytes as
    /// [`Point::to_bytes`] on each.
    pub fn batch_to_bytes<const N: usize>(points: [&Point; N]) -> [[u8; POINT_LEN]; N] {
        use p256::elliptic_curve::BatchNormalize;
        let affine = <ProjectivePoint as BatchNormalize<[ProjectivePoint; N]>>::batch_normalize(
            &points.map(|p| p.0),
        );
        affine.map(|a| {
            let mut out = [0u8; POINT_LEN];
            out.copy_from_slice(&a.to_bytes());
            out
        })
    }
    /// The affine x-coordinate (the ECDH shared secret convention).
    pub fn x(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&self.0.to_affine().x());
        out
    }
    /// 65-byte uncompressed SEC1 encoding (HPKE's `SerializePublicKey`).
    pub fn to_uncompressed(&self) -> Vec<u8> {
        self.0.to_affine().to_sec1_point(false).as_bytes().to_vec()
    }
    /// Decodes exactly 33 compressed bytes; validates the point fully.
    pub fn from_bytes(bytes: &[u8]) -> Result<Point> {
        if bytes.len() != POINT_LEN || !(bytes[0] == 0x02 || bytes[0] == 0x03) {
            return Err(Error::InvalidPoint);
        }
        let affine = AffinePoint::from_sec1_bytes(bytes).map_err(|_| Error::InvalidPoint)?;
        Point::from_projective(affine.into())
    }
}

impl core::fmt::Debug for Point {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Point({})", hex::encode(self.to_bytes()))
    }
}

impl core::ops::Add for Point {
    type Output = ProjectivePoint;
    fn add(self, rhs: Point) -> ProjectivePoint {
        self.0 + rhs.0
    }
}

/// Decodes a canonical, non-zero 32-byte big-endian scalar.
pub fn scalar_from_bytes(bytes: &[u8]) -> Result<NonZeroScalar> {
    let arr: [u8; SCALAR_LEN] = bytes.try_into().map_err(|_| Error::InvalidScalar)?;
    let s: Option<Scalar> = Scalar::from_repr(arr.into()).into();
    let s = s.ok_or(Error::InvalidScalar)?;
    Option::from(NonZeroScalar::new(s)).ok_or(Error::InvalidScalar)
}

/// Decodes a canonical scalar that may be zero (proof response `s`).
pub fn any_scalar_from_bytes(bytes: &[u8]) -> Result<Scalar> {
    let arr: [u8; SCALAR_LEN] = bytes.try_into().map_err(|_| Error::InvalidScalar)?;
    Option::from(Scalar::from_repr(arr.into())).ok_or(Error::InvalidScalar)
}

/// Encodes a scalar as 32 big-endian bytes.
pub fn scalar_to_bytes(s: &Scalar) -> [u8; SCALAR_LEN] {
    s.to_repr().into()
}
