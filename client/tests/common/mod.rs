//! Shared test fixtures: a deterministic RNG and a whole SeSPHR deployment in memory.
#![allow(
    dead_code,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use rand_core::Rng;
use sesphr_client::audit::{Decision, MemoryLog};
use sesphr_client::capsule::{Capsule, DataKey, KeyContext};
use sesphr_client::grant::{GrantShare, GrantTerms, IssuedGrant, Role, SrsShare, VerifiedGrant};
use sesphr_client::identity::Identity;
use sesphr_client::manifest::{ManifestContent, ManifestEntry, SignedHead, VerifiedManifest};
use sesphr_client::policy::{Rotation, SectionState};
use sesphr_client::record::{RecordId, RecordNonce, SectionId};
use sesphr_client::reencrypt::{srs_reencrypt, ReencryptAnswer, ReencryptRequest};
use sesphr_client::secret::Seed;
use sesphr_client::stream::{encrypt_body, DEFAULT_CHUNK_LOG2};
use std::collections::HashMap;

mod test_rng;
pub use test_rng::TestRng;

pub fn identity(label: &str) -> Identity {
    let mut rng = TestRng::new(label);
    Identity::from_seed(Seed::generate(&mut rng)).unwrap()
}

/// A section's current state on the owner's side.
pub struct OwnedSection {
    pub name: String,
    pub state: SectionState,
    pub entry: Option<ManifestEntry>,
}

/// The patient's record plus an in-memory SRS and relay.
pub struct World {
    pub rng: TestRng,
    pub owner: Identity,
    pub srs: Identity,
    pub record: RecordId,
    pub nonce: RecordNonce,
    pub sections: Vec<OwnedSection>,
    pub manifests: Vec<VerifiedManifest>,
    /// The relay's blob store, by chunk root.
    pub blobs: HashMap<[u8; 32], Vec<u8>>,
    /// The SRS: grant statements, live shares, tombstones.
    pub srs_grants: HashMap<[u8; 16], VerifiedGrant>,
    pub srs_shares: HashMap<[u8; 16], SrsShare>,
    pub tombstones: Vec<[u8; 16]>,
    /// Grants re-issued by rotations, in order (their b1 envelopes go to the grantees).
    pub reissued: Vec<IssuedGrant>,
    pub log: MemoryLog,
    pub sequence: u64,
    pub now: u64,
}

impl World {
    pub fn new(label: &str) -> World {
        let mut rng = TestRng::new(label);
        let owner = identity(&format!("{label}/owner"));
        let srs = identity(&format!("{label}/srs"));
        let (record, nonce) = RecordId::generate(&owner.id(), &mut rng);
        World {
            rng,
            owner,
            srs,
            record,
            nonce,
            sections: Vec::new(),
            manifests: Vec::new(),
            blobs: HashMap::new(),
            srs_grants: HashMap::new(),
            srs_shares: HashMap::new(),
            tombstones: Vec::new(),
            reissued: Vec::new(),
            log: MemoryLog::default(),
            sequence: 0,
            now: 1_750_000_000_000,
        }
    }

    pub fn version(&self) -> u64 {
        self.manifests.last().map_or(0, |m| m.version())
    }

    pub fn section_id(&self, name: &str) -> SectionId {
        SectionId::derive(self.owner.seed(), &self.record, name)
    }

    fn section_mut(&mut self, name: &str) -> &mut OwnedSection {
        if !self.sections.iter().any(|s| s.name == name) {
            let state = SectionState::new(self.record, self.section_id(name), &mut self.rng);
            self.sections.push(OwnedSection {
                name: name.to_string(),
                state,
                entry: None,
            });
        }
        self.sections.iter_mut().find(|s| s.name == name).unwrap()
    }

    /// The SRS receives b2 envelopes (issued or re-issued) and checks them.
    fn deliver(&mut self, issued: &IssuedGrant) {
        let share = issued
            .statement
            .accept_srs_share(&self.srs, &issued.b2_envelope)
            .unwrap();
        self.srs_grants
            .insert(issued.statement.grant_id, issued.statement.clone());
        self.srs_shares.insert(issued.statement.grant_id, share);
    }

    fn deliver_rotation(&mut self, rotation: Option<Rotation>) {
        for g in rotation.into_iter().flat_map(|r| r.reissued) {
            self.deliver(&g);
            self.reissued.push(g);
        }
    }

    /// Writes (creates or replaces) sections at the next version and signs the
    /// manifest; sections with a pending rotation move to a new epoch first.
    pub fn write(&mut self, updates: &[(&str, &[u8])]) -> VerifiedManifest {
        let version = self.version() + 1;
        for (name, body) in updates {
            let srs_enc = self.srs.public().encryption;
            let mut rng = TestRng::new(&format!("write/{name}/{version}/{}", self.rng.next_u64()));
            let mut seq = self.sequence;
            let owner = identity_clone(&self.owner);
            let (key, rotation) = self
                .section_mut(name)
                .state
                .key_for_write(&owner, &srs_enc, &mut seq, &mut rng)
                .unwrap();
            self.sequence = seq;
            self.deliver_rotation(rotation);
            let (capsule, dk) = Capsule::encapsulate(&key, version, &mut self.rng).unwrap();
            let ctx = KeyContext::for_key(&key, version);
            let (blob, sealed) =
                encrypt_body(capsule, &dk, &ctx, body, DEFAULT_CHUNK_LOG2).unwrap();
            let entry = ManifestEntry::for_body(key.public(), &sealed);
            self.blobs.insert(entry.chunk_root, blob);
            self.section_mut(name).entry = Some(entry);
        }
        let content = ManifestContent {
            record: self.record,
            record_nonce: self.nonce,
            version,
            previous: self.manifests.last().map_or([0u8; 32], |m| m.hash()),
            created_at: self.now,
            entries: self
                .sections
                .iter()
                .filter_map(|s| s.entry.clone())
                .collect(),
        };
        let m = content.sign(&self.owner).unwrap();
        self.manifests.push(m.clone());
        m
    }

    /// The blob of `name` as listed in the latest manifest.
    pub fn blob(&self, name: &str) -> Vec<u8> {
        let entry = self
            .sections
            .iter()
            .find(|s| s.name == name)
            .unwrap()
            .entry
            .as_ref()
            .unwrap();
        self.blobs[&entry.chunk_root].clone()
    }

    /// Issues a grant (rotating first for a from-now grant) and delivers b2 to the SRS.
    pub fn grant(
        &mut self,
        name: &str,
        grantee: &Identity,
        role: Role,
        from_version: u64,
        expires_at: Option<u64>,
    ) -> IssuedGrant {
        let terms = GrantTerms {
            grantee: grantee.public().clone(),
            role,
            from_version,
            expires_at,
            sequence: 0,
        };
        let srs_enc = self.srs.public().encryption;
        let owner = identity_clone(&self.owner);
        let mut seq = self.sequence;
        let mut rng = TestRng::new(&format!("grant/{name}/{}", self.rng.next_u64()));
        let (issued, rotation) = self
            .section_mut(name)
            .state
            .grant(&owner, &srs_enc, &terms, &mut seq, &mut rng)
            .unwrap();
        self.sequence = seq;
        self.deliver_rotation(rotation);
        self.deliver(&issued);
        issued
    }

    /// The SRS deletes the share and tombstones the id; the owner's state
    /// marks the section for rotation.
    pub fn revoke(&mut self, grant_id: &[u8; 16]) {
        self.srs_shares.remove(grant_id);
        self.tombstones.push(*grant_id);
        for s in &mut self.sections {
            let _ = s.state.revoked(grant_id);
        }
    }

    /// The SRS's whole answer path: state checks, crypto checks, audit, signing.
    pub fn srs_answer(&mut self, request: &ReencryptRequest) -> Result<Vec<u8>, Decision> {
        let grant = self
            .srs_grants
            .get(&request.grant_id)
            .cloned()
            .ok_or(Decision::UnknownGrant)?;
        let share = self.srs_shares.get(&request.grant_id).cloned();
        let manifest = self
            .manifests
            .iter()
            .find(|m| m.version() == request.version)
            .cloned();
        let result = match (share, manifest) {
            _ if self.tombstones.contains(&request.grant_id) => Err(Decision::Revoked),
            (None, _) => Err(Decision::Revoked),
            (_, None) => Err(Decision::NotInManifest),
            (Some(share), Some(manifest)) => match request.verify(&grant) {
                Ok(verified) => srs_reencrypt(
                    &share,
                    &grant,
                    &verified,
                    &manifest,
                    self.now,
                    &mut self.rng,
                ),
                Err(_) => Err(Decision::BadSignature),
            },
        };
        let decision = result.as_ref().err().copied().unwrap_or(Decision::Allowed);
        let receipt = self
            .log
            .append(&self.srs, request.audit_entry(&grant, self.now, decision))
            .unwrap();
        let re = result?;
        let latest = self.manifests.last().unwrap();
        let head = SignedHead::sign(
            &self.srs,
            self.record,
            latest.version(),
            latest.hash(),
            self.now,
        );
        Ok(ReencryptAnswer {
            grant_id: grant.grant_id,
            nonce: request.nonce,
            p2: re.p2,
            proof: re.proof,
            receipt,
            head,
        }
        .sign(&self.srs)
        .unwrap())
    }

    /// A grantee reads a section at the latest version end to end.
    pub fn read(
        &mut self,
        reader: &Identity,
        share: &GrantShare,
        name: &str,
    ) -> Result<Vec<u8>, String> {
        let manifest = self.manifests.last().unwrap().clone();
        self.read_at(reader, share, name, &manifest)
    }

    pub fn read_at(
        &mut self,
        reader: &Identity,
        share: &GrantShare,
        name: &str,
        manifest: &VerifiedManifest,
    ) -> Result<Vec<u8>, String> {
        let req = ReencryptRequest::new(
            reader,
            &share.grant,
            manifest.version(),
            self.now,
            &mut self.rng,
        )
        .map_err(|e| e.code().to_string())?;
        let sealed = self.srs_answer(&req).map_err(|d| d.code().to_string())?;
        let answer =
            ReencryptAnswer::verify(&sealed, self.srs.public(), &req, &share.grant, manifest)
                .map_err(|e| e.code().to_string())?;
        let dk: DataKey = share
            .data_key(manifest, &answer)
            .map_err(|e| e.code().to_string())?;
        let entry = manifest
            .entry(&self.section_id(name))
            .map_err(|e| e.code().to_string())?;
        let blob = self.blobs[&entry.chunk_root].clone();
        let body = sesphr_client::stream::decrypt_body(&blob, &dk, &entry.chunk_root)
            .map_err(|e| e.code().to_string())?;
        Ok(body.to_vec())
    }

    /// A grantee accepts an issued grant against the latest manifest.
    pub fn accept(&self, grantee: &Identity, issued: &IssuedGrant, name: &str) -> GrantShare {
        let m = self.manifests.last().unwrap();
        issued
            .statement
            .accept(
                grantee,
                &issued.b1_envelope,
                &m.entry(&self.section_id(name)).unwrap().section_key,
            )
            .unwrap()
    }
}

/// The same identity again (identities are deliberately not `Clone`).
pub fn identity_clone(id: &Identity) -> Identity {
    Identity::from_seed(Seed::from_bytes(id.seed().to_bytes().as_ref()).unwrap()).unwrap()
}
