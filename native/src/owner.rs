//! The owner: records rebuilt from the servers and checked against the SRS
//! head, written, shared, revoked and read back through the core's owner
//! flow.

use std::sync::Arc;

use sesphr_client::audit::AuditEntry;
use sesphr_client::grant::{GrantId, GrantTerms, IssuedGrant, Role, VerifiedGrant};
use sesphr_client::identity::{Identity, PublicIdentity};
use sesphr_client::manifest::{ManifestEntry, VerifiedManifest};
use sesphr_client::owner::OwnerRecord;
use sesphr_client::policy::Rotation;
use sesphr_client::primitives::os_rng;
use sesphr_client::record::{RecordId, SectionId};
use sesphr_client::revocation::{Revocation, RevocationReceipt};
use sesphr_client::stream::{decrypt_body, seal_section, DEFAULT_CHUNK_LOG2};

use crate::client::{Client, Error, Result};
use crate::now_ms;

/// How many times a write retries a request the network lost.
const RETRIES: u32 = 3;

/// A patient: the owner of records.
#[derive(Clone, Debug)]
pub struct Patient {
    client: Client,
    identity: Arc<Identity>,
}

/// What a write achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// The version the relay stored.
    pub version: u64,
    /// Whether the SRS witnessed it already. If not, readers see the
    /// previous version until [`PatientRecord::reconcile`] (or the next
    /// write) pushes it; the edit is safe at the relay meanwhile.
    pub witnessed: bool,
}

impl Patient {
    /// The owner `identity` on `client` (register it first).
    pub fn new(client: Client, identity: Identity) -> Patient {
        Patient {
            client,
            identity: Arc::new(identity),
        }
    }
    /// The identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the next record: an empty version 1, at the relay and the SRS
    /// (a record must exist before it is shared).
    pub async fn create_record(&self) -> Result<PatientRecord> {
        let mut index = 0;
        loop {
            let (record, _) = RecordId::for_index(self.identity.seed(), &self.identity.id(), index);
            if self.client.manifest(&record, None).await?.is_none() {
                break;
            }
            index += 1;
        }
        let mut rec = self.new_record(index);
        rec.publish().await?;
        Ok(rec)
    }

    /// The `index`-th record as a new one, unpublished: its first write is
    /// version 1.
    pub fn new_record(&self, index: u32) -> PatientRecord {
        PatientRecord {
            patient: self.clone(),
            inner: OwnerRecord::new(&self.identity, index),
            high_water: 0,
        }
    }

    /// The `index`-th record rebuilt from the servers, or `None` if the
    /// relay has none. `high_water` is the highest version this owner saw
    /// witnessed (0 if unknown): a relay or SRS behind it is `stale`.
    pub async fn open_record(&self, index: u32, high_water: u64) -> Result<Option<PatientRecord>> {
        let (record, _) = RecordId::for_index(self.identity.seed(), &self.identity.id(), index);
        let Some(latest) = self.client.manifest(&record, None).await? else {
            return Ok(None);
        };
        latest.expect_owner(self.identity.public())?;
        let head = self.client.head(&record).await?;
        let chain = self.client.chain_to(1, latest).await?;
        let manifests: Vec<VerifiedManifest> = chain.iter().cloned().collect();
        let grants = self.client.grants(&self.identity, &record).await?;
        let inner = OwnerRecord::restore(
            &self.identity,
            index,
            &manifests,
            &grants,
            head.as_ref(),
            high_water,
            now_ms(),
        )?;
        let mut rec = PatientRecord {
            patient: self.clone(),
            high_water: inner.witnessed_version().max(high_water),
            inner,
        };
        // Versions the relay holds that the SRS never witnessed (a lost
        // request) are pushed now; an unreachable SRS leaves them pending.
        if let Err(e) = rec.reconcile().await {
            if !e.is_transient() {
                return Err(e);
            }
        }
        Ok(Some(rec))
    }

    /// The state of `record` carried on through this patient's client (the
    /// same identity, reconnected: a deployment at a new address).
    pub fn adopt(&self, record: PatientRecord) -> PatientRecord {
        assert_eq!(
            record.patient.identity.id(),
            self.identity.id(),
            "another owner's record"
        );
        PatientRecord {
            patient: self.clone(),
            ..record
        }
    }

    /// Every record of this owner, rebuilt from the servers.
    pub async fn records(&self) -> Result<Vec<PatientRecord>> {
        let mut out = Vec::new();
        for index in 0.. {
            match self.open_record(index, 0).await? {
                Some(r) => out.push(r),
                None => return Ok(out),
            }
        }
        Ok(out)
    }
}

/// One of the patient's records.
#[derive(Debug)]
pub struct PatientRecord {
    patient: Patient,
    inner: OwnerRecord,
    high_water: u64,
}

async fn retried<T, F, Fut>(mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempt = 0;
    loop {
        match f().await {
            Err(e) if e.is_transient() && attempt < RETRIES => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
            }
            other => return other,
        }
    }
}

impl PatientRecord {
    fn client(&self) -> &Client {
        &self.patient.client
    }
    fn identity(&self) -> &Identity {
        &self.patient.identity
    }
    /// The owner's state of the record.
    pub fn state(&self) -> &OwnerRecord {
        &self.inner
    }
    /// The record id.
    pub fn record(&self) -> RecordId {
        self.inner.record()
    }
    /// The latest version the relay stored (0 before the first).
    pub fn version(&self) -> u64 {
        self.inner.next_version() - 1
    }
    /// The highest version the SRS witnessed.
    pub fn high_water(&self) -> u64 {
        self.high_water
    }
    /// The opaque id of a section name.
    pub fn section_id(&self, name: &str) -> SectionId {
        SectionId::derive(self.identity().seed(), &self.record(), name)
    }

    /// Rebuilds this record from the servers (after another device wrote).
    pub async fn refresh(&mut self) -> Result<()> {
        let index = self.inner.index();
        *self = self
            .patient
            .open_record(index, self.high_water)
            .await?
            .ok_or_else(|| Error::Api {
                status: 404,
                code: "not_found".into(),
                message: "the relay has no manifest of this record".into(),
            })?;
        Ok(())
    }

    /// Pushes every version the relay stored but the SRS has not witnessed,
    /// oldest first (registration is idempotent).
    pub async fn reconcile(&mut self) -> Result<()> {
        let pending: Vec<VerifiedManifest> = self.inner.unwitnessed().cloned().collect();
        for m in pending {
            let head = self.client().post_head(&m).await?;
            self.inner.witnessed(&head)?;
            self.high_water = self.high_water.max(head.version);
        }
        Ok(())
    }

    async fn deliver_all(&self, grants: &[IssuedGrant]) -> Result<()> {
        for g in grants {
            retried(|| self.client().deliver(g)).await?;
        }
        Ok(())
    }

    async fn deliver_rotation(&self, rotation: &Option<Rotation>) -> Result<()> {
        match rotation {
            Some(r) => self.deliver_all(&r.reissued).await,
            None => Ok(()),
        }
    }

    /// Signs the next manifest and publishes it: the relay (retried; an
    /// identical manifest is accepted again), then the SRS head. A relay
    /// conflict (another device wrote) refreshes the record and fails with
    /// `version_conflict`; an SRS that cannot be reached leaves the version
    /// unwitnessed.
    async fn publish(&mut self) -> Result<Written> {
        let m = self.inner.sign_manifest(self.identity(), now_ms())?;
        match retried(|| self.client().post_manifest(&m)).await {
            Ok(()) => {}
            Err(e) if e.code() == "version_conflict" => {
                self.refresh().await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        }
        self.inner.published(m)?;
        let version = self.version();
        match self.reconcile().await {
            Ok(()) => Ok(Written {
                version,
                witnessed: true,
            }),
            Err(e) if e.is_transient() => Ok(Written {
                version,
                witnessed: false,
            }),
            Err(e) => Err(e),
        }
    }

    /// Writes sections (`name`, body) as the next version: pending versions
    /// are pushed to the SRS first; a pending rotation re-issues the live
    /// grants; each body is encrypted, uploaded with its chunk index, and
    /// listed in the signed manifest.
    pub async fn write(&mut self, updates: &[(&str, &[u8])]) -> Result<Written> {
        if let Err(e) = self.reconcile().await {
            if !e.is_transient() {
                return Err(e);
            }
        }
        let version = self.inner.next_version();
        let srs = self.client().srs().encryption;
        let owner = self.patient.identity.clone();
        for (name, body) in updates {
            let section = self.section_id(name);
            let (key, rotation) =
                self.inner
                    .key_for_write(&owner, &srs, section, now_ms(), &mut os_rng())?;
            self.deliver_rotation(&rotation).await?;
            let (blob, sealed, _) =
                seal_section(&key, version, body, DEFAULT_CHUNK_LOG2, &mut os_rng())?;
            let index = sealed.index.to_bytes();
            retried(|| self.client().put_blob(self.identity(), &blob)).await?;
            retried(|| self.client().put_blob(self.identity(), &index)).await?;
            self.inner
                .set_entry(ManifestEntry::for_body(key.public(), &sealed))?;
        }
        self.publish().await
    }

    /// Shares `sections` with `grantee` under `role`: all history, or only
    /// from the next version on (`from_now`, which opens a new epoch now),
    /// until `expires_at` (SRS clock) if given. Returns the new grants.
    pub async fn share(
        &mut self,
        grantee: &PublicIdentity,
        sections: &[&str],
        role: Role,
        from_now: bool,
        expires_at: Option<u64>,
    ) -> Result<Vec<IssuedGrant>> {
        let terms = GrantTerms {
            grantee: grantee.clone(),
            role,
            from_version: if from_now {
                self.inner.next_version()
            } else {
                0
            },
            expires_at,
            sequence: 0,
            emergency_wait_ms: None,
        };
        self.share_on(sections, &terms).await
    }

    /// Shares `sections` on `terms` (an emergency grant: `emergency_wait_ms`
    /// set); `terms.sequence` is the record's to assign.
    pub async fn share_on(
        &mut self,
        sections: &[&str],
        terms: &GrantTerms,
    ) -> Result<Vec<IssuedGrant>> {
        let srs = self.client().srs().encryption;
        let owner = self.patient.identity.clone();
        let mut out = Vec::new();
        for name in sections {
            let section = self.section_id(name);
            let (issued, rotation) =
                self.inner
                    .grant(&owner, &srs, section, terms, now_ms(), &mut os_rng())?;
            self.deliver_rotation(&rotation).await?;
            self.deliver_all(std::slice::from_ref(&issued)).await?;
            out.push(issued);
        }
        Ok(out)
    }

    /// Revokes a grant of this record at the SRS, effective once its signed
    /// receipt verifies: a live grant (the section then rotates at its next
    /// write), or one of an earlier epoch that still reads old versions.
    pub async fn revoke(&mut self, grant: &GrantId) -> Result<RevocationReceipt> {
        let live = self.inner.grants().find(|g| g.grant_id == *grant).cloned();
        let statement = match live.clone() {
            Some(g) => g,
            None => self
                .grants()
                .await?
                .into_iter()
                .map(|(g, _)| g)
                .find(|g| g.grant_id == *grant)
                .ok_or(sesphr_client::Error::InvalidState("no such grant"))?,
        };
        let rev = Revocation::sign(self.identity(), &statement, now_ms())?;
        let receipt = retried(|| self.client().revoke(rev.as_bytes())).await?;
        let receipt = RevocationReceipt::verify(&receipt, self.client().srs(), &rev)?;
        if live.is_some() {
            self.inner.revoked(grant)?;
        }
        Ok(receipt)
    }

    /// Moves a section to a fresh epoch at its next write.
    pub fn rotate(&mut self, name: &str) -> Result<()> {
        let section = self.section_id(name);
        Ok(self.inner.rotate(&section)?)
    }

    /// Every grant the SRS holds for this record, with whether it was revoked.
    pub async fn grants(&self) -> Result<Vec<(VerifiedGrant, bool)>> {
        self.client().grants(self.identity(), &self.record()).await
    }

    /// The record's audit entries, as the SRS lists them, once the listing
    /// checked out ([`crate::Client::audit`]).
    pub async fn audit(&self) -> Result<Vec<(u64, AuditEntry)>> {
        Ok(self
            .client()
            .audit(self.identity(), &self.record())
            .await?
            .entries)
    }

    /// The owner's own read of a section's current body.
    pub async fn read(&self, name: &str) -> Result<Vec<u8>> {
        self.read_at(name, self.version()).await
    }

    /// The body a section had at record `version` (see
    /// [`OwnerRecord::history`] for the versions at which it changed).
    pub async fn read_at(&self, name: &str, version: u64) -> Result<Vec<u8>> {
        let section = self.section_id(name);
        let dk = self.inner.data_key_at(self.identity(), &section, version)?;
        let entry = self
            .inner
            .chain()
            .and_then(|c| c.get(version))
            .ok_or(sesphr_client::Error::InvalidState("no such version"))?
            .entry(&section)?
            .clone();
        let blob = self.client().blob(&entry.blob_id()).await?;
        Ok(decrypt_body(&blob, &dk, &entry.chunk_root)?.to_vec())
    }
}
