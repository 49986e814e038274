//! Signed request tokens: how a party authorizes a server-side action
//! (an upload, reading its inbox, listing a record's grants, reading the
//! audit log) without any bearer secret. A token names its purpose and
//! subject, carries the signer's clock and a random nonce, and is signed;
//! servers check it against a replay window on their own clock.

use rand_core::CryptoRng;

use crate::error::{malformed, Error, Result};
use crate::identity::{Identity, PublicIdentity};
use crate::primitives::codec::{wire_enum, Kind, Reader, Writer};
use crate::primitives::random_bytes;

wire_enum! {
    /// What a token authorizes.
    pub enum Purpose (names: name, from_name) {
        /// Upload a blob or chunk index: subject = its content address ‖ u64 length.
        UploadBlob = 1 => "upload_blob",
        /// Read one's grant inbox: subject = empty.
        ReadInbox = 2 => "read_inbox",
        /// List a record's grants (owner): subject = record id.
        ListGrants = 3 => "list_grants",
        /// Read a record's audit log (owner): subject = record id.
        ReadAudit = 4 => "read_audit",
        /// Delete a blob one uploaded: subject = its content address.
        DeleteBlob = 5 => "delete_blob",
        /// Remove an item from one's own inbox: subject = the item id (the
        /// `StatementHash` of its grant statement).
        ClearInbox = 6 => "clear_inbox",
        /// Post mail to a party: subject = the recipient's party id ‖ the
        /// SHA-256 of the sealed mail (its id).
        SendMail = 7 => "send_mail",
        /// Read one's mail: subject = empty.
        ReadMail = 8 => "read_mail",
        /// Remove an item from one's own mail: subject = its id.
        ClearMail = 9 => "clear_mail",
        /// Create or replace one's SMART Health Link: subject = the link id
        /// (32 bytes) ‖ the SHA-256 of the request body.
        PutLink = 10 => "put_link",
        /// List one's SMART Health Links and their retrievals: subject = empty.
        ListLinks = 11 => "list_links",
        /// Revoke (delete) one's SMART Health Link: subject = the link id.
        RevokeLink = 12 => "revoke_link",
        /// Store a version of one's owner-private state: subject = the
        /// SHA-256 of the state object (which names the slot and version).
        PutState = 13 => "put_state",
        /// Read one's owner-private state: subject = the slot name.
        GetState = 14 => "get_state",
        /// List a record's emergency activations (owner): subject = record id.
        ListEmergency = 16 => "list_emergency",
        /// Read the state of one's emergency grant (grantee): subject =
        /// record id ‖ grant id.
        EmergencyStatus = 17 => "emergency_status",
    }
}

/// Largest subject a token may carry.
pub const MAX_SUBJECT: usize = 64;

/// A verified request token (kind `0x10`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestToken {
    /// The signer.
    pub party: PublicIdentity,
    /// What it authorizes.
    pub purpose: Purpose,
    /// The object it authorizes it for.
    pub subject: Vec<u8>,
    /// Signer's clock, ms since the Unix epoch.
    pub timestamp: u64,
    /// Random nonce (servers reject a nonce seen within the replay window).
    pub nonce: [u8; 16],
    bytes: Vec<u8>,
}

impl RequestToken {
    /// Signs a token.
    pub fn sign<R: CryptoRng + ?Sized>(
        party: &Identity,
        purpose: Purpose,
        subject: &[u8],
        timestamp: u64,
        rng: &mut R,
    ) -> Result<RequestToken> {
        if subject.len() > MAX_SUBJECT {
            return Err(Error::TooLarge("token subject"));
        }
        let nonce: [u8; 16] = random_bytes(rng);
        let mut w = Writer::object(Kind::RequestToken);
        w.raw(&party.public().to_bytes())
            .u8(purpose as u8)
            .bytes(subject)?
            .u64(timestamp)
            .raw(&nonce);
        let sig = party.sign(w.as_slice());
        w.raw(&sig);
        RequestToken::from_bytes(&w.finish())
    }

    /// Decodes and verifies the signature.
    pub fn from_bytes(bytes: &[u8]) -> Result<RequestToken> {
        let mut r = Reader::object(bytes, Kind::RequestToken)?;
        let party = PublicIdentity::read(&mut r)?;
        let purpose = Purpose::from_u8(r.u8()?)
            .ok_or_else(|| malformed("request token", "unknown purpose"))?;
        let subject = r.bytes(MAX_SUBJECT)?.to_vec();
        let timestamp = r.u64()?;
        let nonce = r.array()?;
        party.verify_rest(r)?;
        Ok(RequestToken {
            party,
            purpose,
            subject,
            timestamp,
            nonce,
            bytes: bytes.to_vec(),
        })
    }

    /// Checks purpose, subject and that the timestamp lies within `window_ms`
    /// of the server clock `now`. (Nonce uniqueness is the server's to track.)
    pub fn check(&self, purpose: Purpose, subject: &[u8], now: u64, window_ms: u64) -> Result<()> {
        if self.purpose != purpose || self.subject != subject {
            return Err(Error::BindingMismatch(
                "token is for another purpose or object",
            ));
        }
        if self.timestamp.abs_diff(now) > window_ms {
            return Err(Error::Stale {
                found: self.timestamp,
                known: now,
            });
        }
        Ok(())
    }

    /// The signed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::os_rng;
    use crate::secret::Seed;

    #[test]
    fn tokens_bind_purpose_subject_and_time() {
        let alice = Identity::from_seed(Seed::from_bytes(&[5; 32]).unwrap()).unwrap();
        let t =
            RequestToken::sign(&alice, Purpose::ReadInbox, b"", 1_000_000, &mut os_rng()).unwrap();
        let back = RequestToken::from_bytes(t.as_bytes()).unwrap();
        assert_eq!(back, t);
        back.check(Purpose::ReadInbox, b"", 1_000_500, 1_000)
            .unwrap();
        assert_eq!(
            back.check(Purpose::ListGrants, b"", 1_000_000, 1_000)
                .unwrap_err()
                .code(),
            "binding_mismatch"
        );
        assert_eq!(
            back.check(Purpose::ReadInbox, b"x", 1_000_000, 1_000)
                .unwrap_err()
                .code(),
            "binding_mismatch"
        );
        assert_eq!(
            back.check(Purpose::ReadInbox, b"", 1_002_000, 1_000)
                .unwrap_err()
                .code(),
            "stale"
        );
        let mut bad = t.as_bytes().to_vec();
        bad[80] ^= 1;
        assert!(RequestToken::from_bytes(&bad).is_err());
        assert_eq!(
            RequestToken::sign(&alice, Purpose::ReadInbox, &[0; 65], 0, &mut os_rng())
                .unwrap_err()
                .code(),
            "too_large"
        );
    }
}
