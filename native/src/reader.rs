//! A reader: what was shared with a party, and reading it through the
//! core's reader flow.

use std::collections::HashMap;

use sesphr_client::identity::Identity;
use sesphr_client::primitives::os_rng;
use sesphr_client::reader::{Inbox, OpenedSection, SharedRecord};
use sesphr_client::record::{RecordId, SectionId};
use sesphr_client::stream::decrypt_body;

use crate::client::{Client, Error, Result};
use crate::now_ms;

/// A reader (physician, insurer, family…) with its high-water marks.
#[derive(Debug)]
pub struct Reader {
    client: Client,
    identity: Identity,
    /// Highest version seen per record: persist it to refuse rollbacks
    /// across sessions.
    pub high_water: HashMap<RecordId, u64>,
}

impl Reader {
    /// The reader `identity` on `client` (register it first).
    pub fn new(client: Client, identity: Identity) -> Reader {
        Reader {
            client,
            identity,
            high_water: HashMap::new(),
        }
    }
    /// The identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// What was shared with this reader: for every record the inbox names,
    /// the grants signed by the party its manifest binds it to. Items that
    /// do not verify, name no record the relay holds, or come from anyone
    /// else are left out (see [`SharedRecord::foreign`]).
    pub async fn shared_with_me(&self) -> Result<Vec<SharedRecord>> {
        let mut inbox = Inbox::new();
        for (_, item) in self.client.inbox(&self.identity).await? {
            if let Ok(item) = item {
                inbox.add(self.identity.public(), item);
            }
        }
        let mut out = Vec::new();
        for record in inbox.records().collect::<Vec<_>>() {
            let Some(m) = self.client.manifest(&record, None).await? else {
                continue;
            };
            match inbox.record(&m) {
                Ok(shared) => out.push(shared),
                Err(sesphr_client::Error::NotGranted) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// Clears the items of `shared` signed by anyone but its owner, and
    /// every item that does not verify.
    pub async fn clear_junk(&self, shared: &[SharedRecord]) -> Result<usize> {
        let mut junk: Vec<[u8; 32]> = shared.iter().flat_map(|s| s.foreign().to_vec()).collect();
        for (id, item) in self.client.inbox(&self.identity).await? {
            if item.is_err() {
                junk.push(id);
            }
        }
        for id in &junk {
            self.client.clear_inbox(&self.identity, id).await?;
        }
        Ok(junk.len())
    }

    /// Reads a section at the record's latest witnessed version.
    pub async fn read(&mut self, shared: &SharedRecord, section: &SectionId) -> Result<Vec<u8>> {
        self.read_version(shared, section, None).await
    }

    /// Reads a section at record `version` (`None`: the latest the SRS
    /// witnessed), through the owner-signed chain from it to the relay's
    /// latest.
    pub async fn read_version(
        &mut self,
        shared: &SharedRecord,
        section: &SectionId,
        version: Option<u64>,
    ) -> Result<Vec<u8>> {
        let record = shared.record();
        let latest = self
            .client
            .manifest(&record, None)
            .await?
            .ok_or(sesphr_client::Error::NoSuchSection)?;
        let head = self.client.head(&record).await?;
        let witnessed = head.as_ref().map_or(0, |h| h.version);
        if witnessed > latest.version() {
            return Err(sesphr_client::Error::Stale {
                found: latest.version(),
                known: witnessed,
            }
            .into());
        }
        let version = version.unwrap_or(witnessed.max(1));
        let chain = self.client.chain_to(version, latest).await?;
        let high_water = self.high_water.get(&record).copied().unwrap_or(0);
        let mut read = shared.read(&self.identity, section, &chain, version, high_water)?;
        let srs = self.client.srs().clone();
        while let Some(sealed) =
            read.next_request(&self.identity, &srs.encryption, now_ms(), &mut os_rng())?
        {
            let answer = self.client.reencrypt(sealed).await?;
            if let Some(opened) = read.answer(&srs, Client::reply(&answer))? {
                self.high_water.insert(record, read.high_water());
                return self.decrypt(opened).await;
            }
        }
        Err(Error::Protocol(read.failure()))
    }

    async fn decrypt(&self, opened: OpenedSection) -> Result<Vec<u8>> {
        let blob = self.client.blob(&opened.entry.blob_id()).await?;
        Ok(decrypt_body(&blob, &opened.data_key, &opened.entry.chunk_root)?.to_vec())
    }
}
