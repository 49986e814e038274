//! The protocol's flows, written once: the owner's ([`owner`], with its epoch
//! policy in [`policy`]) and the reader's ([`reader`]), and where a section's
//! erasure-coded shards go ([`placement`]) and may go after failures
//! ([`holders`]). Pure and free of I/O:
//! each step takes what a driver fetched and returns what it must send, so
//! the JS package, the native client and the tests run the same rules.

pub mod audit_check;
pub mod holders;
pub mod invitation_use;
pub mod owner;
pub mod placement;
pub mod policy;
pub mod reader;

#[cfg(test)]
mod tests {
    //! Secrets stay out of `Debug`: every type that holds a seed, a scalar
    //! share, a section secret or a data key, alone or inside the objects and
    //! flow states that carry it, prints no byte of it.
    use crate::capsule::Capsule;
    use crate::envelope::seal_request;
    use crate::grant::{GrantTerms, IssuedGrant, Role};
    use crate::identity::Identity;
    use crate::primitives::secret::Seed;
    use crate::record::{EpochId, RecordId, SectionId, SectionKey};
    use crate::OwnerRecord;

    /// `text` shows `secret` as hex or as Rust's `Debug` of a byte array.
    fn shows(text: &str, secret: &[u8]) -> bool {
        let list = format!("{:?}", &secret[..6]);
        text.contains(&hex::encode(secret)) || text.contains(list.trim_end_matches(']'))
    }

    #[test]
    fn no_secret_is_printed_by_debug() {
        let mut rng = crate::primitives::os_rng();
        let seed_bytes = [0x5a; 32];
        let owner = Identity::from_seed(Seed::from_bytes(&seed_bytes).unwrap()).unwrap();
        let grantee = Identity::generate().unwrap();
        let srs = Identity::generate().unwrap();
        let (record, _) = RecordId::for_index(owner.seed(), &owner.id(), 0);
        let section = SectionId::derive(owner.seed(), &record, "history");
        let key = SectionKey::for_owner(&owner, record, section, EpochId([3; 32])).unwrap();
        let (_, data_key) = Capsule::encapsulate(&key, 1, &mut rng).unwrap();
        let terms = GrantTerms::new(grantee.public(), Role::Physician, 1);
        let issued =
            IssuedGrant::issue(&owner, &key, &srs.public().encryption, &terms, &mut rng).unwrap();
        let share = issued.accept(&grantee, &key.public()).unwrap();
        let srs_share = issued.accept_srs_share(&srs).unwrap();
        let (_, answer_key) = seal_request(&srs.public().encryption, b"request", &mut rng).unwrap();
        let owned = OwnerRecord::new(&owner, 0);

        let secrets: [(&str, Vec<u8>); 6] = [
            ("seed", seed_bytes.to_vec()),
            (
                "encryption key",
                owner.encryption_secret().to_bytes().to_vec(),
            ),
            ("section secret", key.secret().to_bytes().to_vec()),
            ("b1", share.b1_bytes().to_vec()),
            ("b2", srs_share.b2_bytes().to_vec()),
            ("data key", data_key.dek.expose().to_vec()),
        ];
        let printed = [
            format!("{owner:?}"),
            format!("{:?}", owner.seed()),
            format!("{key:?}"),
            format!("{data_key:?}"),
            format!("{share:?}"),
            format!("{srs_share:?}"),
            format!("{issued:?}"),
            format!("{answer_key:?}"),
            format!("{owned:?}"),
        ];
        for text in &printed {
            for (name, secret) in &secrets {
                assert!(!shows(text, secret), "{name} printed in {text}");
            }
        }
        for text in &printed[..6] {
            assert!(text.contains("redacted"), "{text}");
        }
        // The check itself sees a secret that is printed.
        assert!(shows(&format!("{:?}", seed_bytes), &seed_bytes));
        assert!(shows(&hex::encode(seed_bytes), &seed_bytes));
    }
}
