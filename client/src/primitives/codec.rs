//! Byte encoding shared by every serialized object.
//!
//! Every object starts with the brand `SPHR`, a one-byte object kind and a
//! one-byte format version. Integers are big-endian; variable-length fields
//! carry a `u32` length prefix. Decoders reject trailing bytes.

use crate::error::{malformed, Error, ObjectName, Result};

/// The four-byte brand that starts every serialized SeSPHR object.
pub const BRAND: [u8; 4] = *b"SPHR";
/// The format version of every object kind that has only one.
pub const FORMAT_VERSION: u8 = 1;
/// Length of the object header: brand, kind, version.
pub const OBJECT_HEADER_LEN: usize = 6;

/// A one-byte wire enum whose values have stable lower-case names: the
/// enum, `ALL` in wire order, `from_u8`, the name's getter and its parser.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident (names: $get:ident, $parse:ident) {
            $( $(#[$vmeta:meta])* $variant:ident = $byte:literal => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $byte, )+
        }

        impl $name {
            /// Every value, in wire order.
            pub const ALL: [$name; [$($byte),+].len()] = [$($name::$variant),+];
            /// The value a wire byte stands for.
            pub fn from_u8(byte: u8) -> Option<$name> {
                match byte {
                    $( $byte => Some($name::$variant), )+
                    _ => None,
                }
            }
            /// The stable lower-case name.
            pub fn $get(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
            /// The value a stable name stands for.
            pub fn $parse(text: &str) -> Option<$name> {
                match text {
                    $( $text => Some($name::$variant), )+
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use wire_enum;

/// The kind byte of every serialized object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Encrypted section blob header.
    BlobHeader = 0x01,
    /// Owner-signed record manifest.
    Manifest = 0x02,
    /// Owner-signed grant statement.
    Grant = 0x03,
    /// HPKE envelope carrying one key share.
    Envelope = 0x04,
    /// Grantee-signed re-encryption request.
    ReencryptRequest = 0x05,
    /// SRS re-encryption answer.
    ReencryptAnswer = 0x06,
    /// Owner-signed revocation.
    Revocation = 0x07,
    /// SRS-signed revocation receipt.
    RevocationReceipt = 0x08,
    /// SRS-signed manifest head.
    Head = 0x09,
    /// Self-signed directory entry.
    DirectoryEntry = 0x0a,
    /// List of chunk leaf hashes of a blob.
    ChunkIndex = 0x0b,
    /// Request sealed to the SRS (HPKE).
    SealedRequest = 0x0c,
    /// Answer sealed back to the requester.
    SealedAnswer = 0x0d,
    /// One audit log entry.
    AuditEntry = 0x0e,
    /// SRS-signed audit tree head.
    TreeHead = 0x0f,
    /// Signed request token.
    RequestToken = 0x10,
    /// A seed wrapped under a passphrase (`vault`).
    WrappedSeed = 0x11,
    /// Header of an attachment stored as its own blob.
    AttachmentHeader = 0x12,
    /// What an owner verified of a record's audit listing (kept locally).
    AuditMark = 0x13,
    /// An audit log exported for an auditor.
    AuditExport = 0x14,
    /// Audit receipts a reader forwards to a record's owner (sealed in mail).
    ReceiptBundle = 0x15,
    /// Owner-signed invitation (carried in a link's fragment).
    Invitation = 0x16,
    /// An invitation's acceptance, sealed to the invitation's key.
    Acceptance = 0x17,
    /// What the acceptance seals: the invitee's signed, MACed answer.
    AcceptanceBody = 0x18,
    /// Owner-private state, encrypted, kept at the relay.
    OwnerState = 0x19,
    /// The name an owner gives themself, signed, sealed to a grantee in mail.
    NameCard = 0x1a,
    /// Grantee-signed activation of an emergency grant.
    EmergencyActivation = 0x1c,
    /// Owner-signed approval or denial of an emergency activation.
    EmergencyDecision = 0x1d,
    /// Requester-signed access request (sealed to the owner in mail).
    AccessRequest = 0x1e,
    /// Owner-signed refusal of an access request (mailed back).
    AccessRefusal = 0x1f,
    /// SRS-signed view of emergency grants (an owner's listing, a grantee's status).
    EmergencyView = 0x20,
    /// SRS-signed receipt of an owner's emergency decision.
    EmergencyReceipt = 0x21,
    /// A SMART Health Link's key kept for its owner (sealed under the seed).
    ShlOwnerKey = 0x22,
    /// One erasure-coded shard of a section's payload (stored at a relay).
    Shard = 0x23,
    /// A sharded section's code, blob header and shard addresses (sealed in
    /// the manifest entry).
    Placement = 0x24,
}

impl Kind {
    /// Human name used in errors.
    pub fn name(self) -> ObjectName {
        match self {
            Kind::BlobHeader => "blob header",
            Kind::Manifest => "manifest",
            Kind::Grant => "grant statement",
            Kind::Envelope => "envelope",
            Kind::ReencryptRequest => "re-encryption request",
            Kind::ReencryptAnswer => "re-encryption answer",
            Kind::Revocation => "revocation",
            Kind::RevocationReceipt => "revocation receipt",
            Kind::Head => "manifest head",
            Kind::DirectoryEntry => "directory entry",
            Kind::ChunkIndex => "chunk index",
            Kind::SealedRequest => "sealed request",
            Kind::SealedAnswer => "sealed answer",
            Kind::AuditEntry => "audit entry",
            Kind::TreeHead => "audit tree head",
            Kind::RequestToken => "request token",
            Kind::WrappedSeed => "wrapped seed",
            Kind::AttachmentHeader => "attachment header",
            Kind::AuditMark => "audit mark",
            Kind::AuditExport => "audit export",
            Kind::ReceiptBundle => "receipt bundle",
            Kind::Invitation => "invitation",
            Kind::Acceptance => "acceptance",
            Kind::AcceptanceBody => "acceptance body",
            Kind::OwnerState => "owner state",
            Kind::NameCard => "name card",
            Kind::EmergencyActivation => "emergency activation",
            Kind::EmergencyDecision => "emergency decision",
            Kind::AccessRequest => "access request",
            Kind::AccessRefusal => "access refusal",
            Kind::EmergencyView => "emergency view",
            Kind::EmergencyReceipt => "emergency receipt",
            Kind::ShlOwnerKey => "link key for its owner",
            Kind::Shard => "shard",
            Kind::Placement => "placement",
        }
    }
}

/// Appends fields to a byte buffer.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// Starts an object of the given kind (brand, kind, version).
    pub fn object(kind: Kind) -> Self {
        Writer::object_version(kind, FORMAT_VERSION)
    }
    /// Starts an object of a kind with several format versions.
    pub fn object_version(kind: Kind, version: u8) -> Self {
        let mut w = Writer::default();
        w.raw(&BRAND);
        w.u8(kind as u8);
        w.u8(version);
        w
    }
    /// Appends raw bytes (fixed-size fields).
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }
    /// Appends a byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    /// Appends a big-endian `u32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }
    /// Appends a big-endian `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }
    /// Appends a `u32` length prefix and the bytes.
    pub fn bytes(&mut self, bytes: &[u8]) -> Result<&mut Self> {
        let len = u32::try_from(bytes.len()).map_err(|_| Error::TooLarge("field"))?;
        self.u32(len);
        Ok(self.raw(bytes))
    }
    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }
    /// Finishes, returning the bytes.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads fields from a byte slice, failing with a `Malformed` error on short input.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    object: ObjectName,
}

impl<'a> Reader<'a> {
    /// Reads and checks the object header (brand, kind, version).
    pub fn object(buf: &'a [u8], kind: Kind) -> Result<Self> {
        Ok(Reader::object_versions(buf, kind, FORMAT_VERSION)?.0)
    }
    /// Reads headerless fields that belong to an object of `kind` (errors
    /// name that object).
    pub fn fields(buf: &'a [u8], kind: Kind) -> Self {
        Reader {
            buf,
            pos: 0,
            object: kind.name(),
        }
    }
    /// Reads the header of a kind with format versions `1..=latest`, and
    /// returns the version found.
    pub fn object_versions(buf: &'a [u8], kind: Kind, latest: u8) -> Result<(Self, u8)> {
        let object = kind.name();
        let mut r = Reader {
            buf,
            pos: 0,
            object,
        };
        let brand = r.array::<4>()?;
        if brand != BRAND {
            return Err(malformed(object, "not a SeSPHR object (bad brand)"));
        }
        let found = r.u8()?;
        if found != kind as u8 {
            return Err(Error::WrongKind {
                expected: object,
                found,
            });
        }
        let version = r.u8()?;
        if version == 0 || version > latest {
            return Err(Error::UnknownVersion { object, version });
        }
        Ok((r, version))
    }
    /// Takes `n` raw bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| malformed(self.object, "truncated"))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    /// Takes a byte.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    /// Takes a big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    /// Takes a big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    /// Takes a length-prefixed byte field of at most `max` bytes.
    pub fn bytes(&mut self, max: usize) -> Result<&'a [u8]> {
        let len = self.u32()? as usize;
        if len > max {
            return Err(malformed(self.object, "field too long"));
        }
        self.take(len)
    }
    /// Everything read so far.
    pub fn consumed(&self) -> &'a [u8] {
        &self.buf[..self.pos]
    }
    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    /// Fails if any bytes are left.
    pub fn finish(self) -> Result<()> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(malformed(self.object, "trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checks() {
        let bytes = Writer::object(Kind::Grant).finish();
        assert!(Reader::object(&bytes, Kind::Grant).is_ok());
        assert_eq!(
            Reader::object(&bytes, Kind::Manifest)
                .err()
                .map(|e| e.code()),
            Some("wrong_kind")
        );
        let mut v2 = bytes.clone();
        v2[5] = 2;
        assert_eq!(
            Reader::object(&v2, Kind::Grant).err(),
            Some(Error::UnknownVersion {
                object: "grant statement",
                version: 2
            })
        );
        assert_eq!(
            Reader::object_versions(&v2, Kind::Grant, 2).map(|(_, v)| v),
            Ok(2)
        );
        let mut v0 = v2.clone();
        v0[5] = 0;
        assert!(Reader::object_versions(&v0, Kind::Grant, 2).is_err());
        v2[5] = 3;
        assert!(Reader::object_versions(&v2, Kind::Grant, 2).is_err());
        let mut bad = bytes;
        bad[0] = b'X';
        assert_eq!(
            Reader::object(&bad, Kind::Grant).err().map(|e| e.code()),
            Some("malformed")
        );
    }

    #[test]
    fn short_and_trailing() {
        let mut w = Writer::object(Kind::Head);
        w.u64(7);
        let mut bytes = w.finish();
        let mut r = Reader::object(&bytes, Kind::Head).expect("header");
        assert_eq!(r.u64().expect("u64"), 7);
        assert!(r.finish().is_ok());
        bytes.push(0);
        let mut r = Reader::object(&bytes, Kind::Head).expect("header");
        r.u64().expect("u64");
        assert!(r.finish().is_err());
        let mut r = Reader::object(&bytes[..8], Kind::Head).expect("header");
        assert!(r.u64().is_err());
    }
}
