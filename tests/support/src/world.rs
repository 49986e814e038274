//! A whole SeSPHR deployment in memory, deterministic: the owner's state is
//! the product's [`OwnerRecord`] (so a test writes, grants and revokes with
//! the owner flow itself), readers read with the product's reader flow, and
//! an in-memory SRS (the same checks and answer as `sesphr-relay`'s, without
//! HTTP or durability) and relay stand around them.

use std::collections::HashMap;

use sesphr_client::audit::{Decision, MemoryLog};
use sesphr_client::envelope::{open_request, Envelope};
use sesphr_client::grant::{GrantShare, GrantTerms, IssuedGrant, Role, SrsShare, VerifiedGrant};
use sesphr_client::identity::{Identity, PartyId};
use sesphr_client::manifest::{ManifestChain, ManifestEntry, SignedHead, VerifiedManifest};
use sesphr_client::owner::OwnerRecord;
use sesphr_client::policy::Rotation;
use sesphr_client::reader::{Inbox, InboxItem, Reply};
use sesphr_client::record::{EpochId, RecordId, SectionId, SectionKey};
use sesphr_client::reencrypt::{srs_reencrypt, ReencryptAnswer, ReencryptRequest};
use sesphr_client::secret::Seed;
use sesphr_client::stream::{decrypt_body, seal_section, DEFAULT_CHUNK_LOG2};

use crate::rng::TestRng;

/// A party from a label (the same label, the same party, every run).
pub fn identity(label: &str) -> Identity {
    let mut rng = TestRng::new(label);
    Identity::from_seed(Seed::generate(&mut rng)).unwrap()
}

/// The same identity again (identities are deliberately not `Clone`).
pub fn identity_clone(id: &Identity) -> Identity {
    Identity::from_seed(Seed::from_bytes(id.seed().to_bytes().as_ref()).unwrap()).unwrap()
}

/// The patient's record, an in-memory SRS and relay, and the readers' inboxes.
pub struct World {
    /// Every random draw of the world.
    pub rng: TestRng,
    /// The patient.
    pub owner: Identity,
    /// The SRS.
    pub srs: Identity,
    /// The owner's state of record 0, driven by the owner flow.
    pub record: OwnerRecord,
    /// The relay's manifests, oldest first.
    pub manifests: Vec<VerifiedManifest>,
    /// The relay's blobs, by chunk root.
    pub blobs: HashMap<[u8; 32], Vec<u8>>,
    /// The relay's inboxes.
    pub inboxes: HashMap<PartyId, Vec<InboxItem>>,
    /// The SRS's grants in arrival order, with whether each was revoked.
    pub srs_grants: Vec<(VerifiedGrant, bool)>,
    /// The SRS's live shares.
    pub srs_shares: HashMap<[u8; 16], SrsShare>,
    /// Every grant issued or re-issued, in order.
    pub issued: Vec<IssuedGrant>,
    /// The SRS's audit log.
    pub log: MemoryLog,
    /// Readers' high-water marks.
    pub high_water: HashMap<PartyId, u64>,
    /// The clock (the SRS's and everyone's).
    pub now: u64,
}

impl World {
    /// A world whose every party and draw follows from `label`.
    pub fn new(label: &str) -> World {
        let owner = identity(&format!("{label}/owner"));
        let srs = identity(&format!("{label}/srs"));
        let record = OwnerRecord::new(&owner, 0);
        World {
            rng: TestRng::new(label),
            owner,
            srs,
            record,
            manifests: Vec::new(),
            blobs: HashMap::new(),
            inboxes: HashMap::new(),
            srs_grants: Vec::new(),
            srs_shares: HashMap::new(),
            issued: Vec::new(),
            log: MemoryLog::default(),
            high_water: HashMap::new(),
            now: 1_750_000_000_000,
        }
    }

    /// The record id.
    pub fn record_id(&self) -> RecordId {
        self.record.record()
    }
    /// The latest version (0 before the first write).
    pub fn version(&self) -> u64 {
        self.record.next_version() - 1
    }
    /// The opaque id of a section name.
    pub fn section_id(&self, name: &str) -> SectionId {
        SectionId::derive(self.owner.seed(), &self.record.record(), name)
    }
    /// The SRS's signed head of the latest version, now.
    pub fn head(&self) -> SignedHead {
        let m = self.manifests.last().unwrap();
        SignedHead::sign(&self.srs, self.record_id(), m.version(), m.hash(), self.now)
    }

    /// The SRS takes a grant's `b2` (checking it), the relay the `b1` item.
    fn deliver(&mut self, issued: &IssuedGrant) {
        let share = issued.accept_srs_share(&self.srs).unwrap();
        self.srs_shares.insert(issued.statement.grant_id, share);
        self.srs_grants.push((issued.statement.clone(), false));
        let item =
            InboxItem::from_bytes(issued.statement.as_bytes(), &issued.b1_envelope.to_bytes())
                .unwrap();
        self.inboxes
            .entry(issued.statement.grantee.id())
            .or_default()
            .push(item);
        self.issued.push(issued.clone());
    }

    fn deliver_rotation(&mut self, rotation: Option<Rotation>) {
        for g in rotation.into_iter().flat_map(|r| r.reissued) {
            self.deliver(&g);
        }
    }

    /// Writes sections at the next version with the owner flow: a pending
    /// rotation moves a section to a new epoch first (its re-issued grants
    /// are delivered), each body is sealed, the manifest signed, stored and
    /// witnessed.
    pub fn write(&mut self, updates: &[(&str, &[u8])]) -> VerifiedManifest {
        let version = self.record.next_version();
        for (name, body) in updates {
            let section = self.section_id(name);
            let srs_enc = self.srs.public().encryption;
            let (key, rotation) = self
                .record
                .key_for_write(&self.owner, &srs_enc, section, self.now, &mut self.rng)
                .unwrap();
            self.deliver_rotation(rotation);
            let (blob, sealed, _) =
                seal_section(&key, version, body, DEFAULT_CHUNK_LOG2, &mut self.rng).unwrap();
            let entry = ManifestEntry::for_body(key.public(), &sealed);
            self.blobs.insert(entry.chunk_root, blob);
            self.record.set_entry(entry).unwrap();
        }
        let m = self.record.sign_manifest(&self.owner, self.now).unwrap();
        self.manifests.push(m.clone());
        self.record.published(m.clone()).unwrap();
        self.record.witnessed(&self.head()).unwrap();
        m
    }

    /// The blob of `name` as listed in the latest manifest.
    pub fn blob(&self, name: &str) -> Vec<u8> {
        let entry = self
            .manifests
            .last()
            .unwrap()
            .entry(&self.section_id(name))
            .unwrap();
        self.blobs[&entry.chunk_root].clone()
    }

    /// Issues a grant with the owner flow (a from-now grant rotates first)
    /// and delivers it.
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
            emergency_wait_ms: None,
        };
        let section = self.section_id(name);
        let srs_enc = self.srs.public().encryption;
        let (issued, rotation) = self
            .record
            .grant(
                &self.owner,
                &srs_enc,
                section,
                &terms,
                self.now,
                &mut self.rng,
            )
            .unwrap();
        self.deliver_rotation(rotation);
        self.deliver(&issued);
        issued
    }

    /// The SRS deletes the share and tombstones the grant; the owner records
    /// the receipt (the section rotates at its next write).
    pub fn revoke(&mut self, grant_id: &[u8; 16]) {
        self.srs_shares.remove(grant_id);
        for (g, revoked) in &mut self.srs_grants {
            if g.grant_id == *grant_id {
                *revoked = true;
            }
        }
        self.record.revoked(grant_id).unwrap();
    }

    /// The owner's state rebuilt from the servers' copies (a new browser).
    pub fn restore(&self) -> OwnerRecord {
        OwnerRecord::restore(
            &self.owner,
            0,
            &self.manifests,
            &self.srs_grants,
            self.manifests.last().map(|_| self.head()).as_ref(),
            0,
            self.now,
        )
        .unwrap()
    }

    /// The in-memory SRS's answer path: state checks, crypto checks, audit
    /// of proven requests, signing, as `sesphr-relay` does.
    pub fn srs_answer(&mut self, request: &ReencryptRequest) -> Result<Vec<u8>, Decision> {
        let (grant, revoked) = self
            .srs_grants
            .iter()
            .find(|(g, _)| g.grant_id == request.grant_id && g.record == request.record)
            .cloned()
            .ok_or(Decision::UnknownGrant)?;
        let verified = request.verify(&grant).map_err(|_| Decision::BadSignature)?;
        let share = self.srs_shares.get(&request.grant_id).cloned();
        let manifest = self
            .manifests
            .iter()
            .find(|m| m.version() == request.version)
            .cloned();
        let result = match (share, manifest) {
            _ if revoked => Err(Decision::Revoked),
            (None, _) => Err(Decision::Revoked),
            (_, None) => Err(Decision::NotInManifest),
            (Some(share), Some(manifest)) => srs_reencrypt(
                &share,
                &grant,
                &verified,
                &manifest,
                self.now,
                &mut self.rng,
            ),
        };
        let decision = result.as_ref().err().copied().unwrap_or(Decision::Allowed);
        let receipt = self
            .log
            .append(&self.srs, verified.audit_entry(&grant, self.now, decision))
            .unwrap();
        let re = result?;
        Ok(re.answer(receipt, self.head()).sign(&self.srs).unwrap())
    }

    /// A reader reads a section at the latest version with the reader flow
    /// (its inbox, the grant rules, the freshness check), end to end.
    pub fn read(&mut self, reader: &Identity, name: &str) -> Result<Vec<u8>, String> {
        let v = self.version();
        self.read_version(reader, name, v)
    }

    /// A reader reads the body a section had at record `version`, through
    /// the chain from it to the latest.
    pub fn read_version(
        &mut self,
        reader: &Identity,
        name: &str,
        version: u64,
    ) -> Result<Vec<u8>, String> {
        let code = |e: sesphr_client::Error| e.code().to_string();
        let mut inbox = Inbox::new();
        for item in self.inboxes.get(&reader.id()).into_iter().flatten() {
            inbox.add(reader.public(), item.clone());
        }
        let latest = self.manifests.last().ok_or("no manifest")?.clone();
        let shared = inbox.record(&latest).map_err(code)?;
        let from = version.max(1) as usize - 1;
        let chain =
            ManifestChain::from_manifests(self.manifests[from..].iter().cloned()).map_err(code)?;
        let hw = self.high_water.get(&reader.id()).copied().unwrap_or(0);
        let section = self.section_id(name);
        let mut read = shared
            .read(reader, &section, &chain, version, hw)
            .map_err(code)?;
        let srs = self.srs.public().clone();
        loop {
            let now = self.now;
            let Some(sealed) = read
                .next_request(reader, &srs.encryption, now, &mut self.rng)
                .map_err(code)?
            else {
                return Err(read.failure().code().to_string());
            };
            let (plain, key) = open_request(&self.srs, &sealed).unwrap();
            let request = ReencryptRequest::from_bytes(&plain).unwrap();
            let answer = self
                .srs_answer(&request)
                .map(|a| key.seal_answer(&a).unwrap());
            let reply = match &answer {
                Ok(a) => Reply::Answer(a),
                Err(d) => Reply::Refused(*d),
            };
            if let Some(opened) = read.answer(&srs, reply).map_err(code)? {
                self.high_water.insert(reader.id(), read.high_water());
                let blob = &self.blobs[&opened.entry.chunk_root];
                return decrypt_body(blob, &opened.data_key, &opened.entry.chunk_root)
                    .map(|b| b.to_vec())
                    .map_err(code);
            }
        }
    }

    /// A grantee accepts an issued grant against the latest manifest (for
    /// tests of the objects themselves, below the reader flow).
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

    /// [`World::read_share`] at the latest manifest.
    pub fn read_with(
        &mut self,
        reader: &Identity,
        share: &GrantShare,
        name: &str,
    ) -> Result<Vec<u8>, String> {
        let m = self.manifests.last().unwrap().clone();
        self.read_share(reader, share, name, &m)
    }

    /// The SRS's copy of a grant.
    pub fn srs_grant(&self, grant_id: &[u8; 16]) -> VerifiedGrant {
        self.srs_grants
            .iter()
            .find(|(g, _)| g.grant_id == *grant_id)
            .unwrap()
            .0
            .clone()
    }

    /// The owner's key of a section's current epoch.
    pub fn section_key(&self, name: &str) -> SectionKey {
        let section = self.section_id(name);
        self.key_at(name, self.record.epoch(&section).unwrap())
    }

    /// The owner's key of section `name` in any `epoch`, current or not.
    pub fn key_at(&self, name: &str, epoch: EpochId) -> SectionKey {
        SectionKey::for_owner(&self.owner, self.record_id(), self.section_id(name), epoch).unwrap()
    }

    /// Reads a section of `manifest` with one given share, below the reader
    /// flow: request, the SRS's answer, its verification, the data key, the
    /// body (for the tamper kit and the coalition tests).
    pub fn read_share(
        &mut self,
        reader: &Identity,
        share: &GrantShare,
        name: &str,
        manifest: &VerifiedManifest,
    ) -> Result<Vec<u8>, String> {
        let code = |e: sesphr_client::Error| e.code().to_string();
        let req = ReencryptRequest::new(
            reader,
            &share.grant,
            manifest.version(),
            self.now,
            &mut self.rng,
        )
        .map_err(code)?;
        let answer = self.srs_answer(&req).map_err(|d| d.code().to_string())?;
        let answer =
            ReencryptAnswer::verify(&answer, self.srs.public(), &req, &share.grant, manifest)
                .map_err(code)?;
        let dk = share.data_key(manifest, &answer).map_err(code)?;
        let entry = manifest.entry(&self.section_id(name)).map_err(code)?;
        let blob = self.blobs[&entry.chunk_root].clone();
        decrypt_body(&blob, &dk, &entry.chunk_root)
            .map(|b| b.to_vec())
            .map_err(code)
    }

    /// Puts an item into a party's inbox as the relay would (anyone may).
    pub fn post_inbox(&mut self, to: &PartyId, statement: &VerifiedGrant, b1: &Envelope) {
        let item = InboxItem::from_bytes(statement.as_bytes(), &b1.to_bytes()).unwrap();
        self.inboxes.entry(*to).or_default().push(item);
    }
}
