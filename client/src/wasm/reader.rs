//! The reader's flow ([`crate::reader`]): which inbox items to trust
//! ([`Inbox`], [`SharedRecord`]), which version to read
//! ([`readable_version`]), and one read over every candidate grant
//! ([`SectionRead`]).

use js_sys::{Object, Reflect};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::grant::{grant_view, GrantView};
use super::manifest::{entry_js, freshness, stale_error};
use super::{
    arg, section, to_js, to_u64, DataKey, Identity, ManifestChain, PublicIdentity, SignedHead,
    VerifiedManifest,
};
use crate::audit::Decision;
use crate::primitives::os_rng;
use crate::reader::{
    Inbox as CoreInbox, InboxItem as CoreItem, Reply, SectionRead as CoreRead,
    SharedRecord as CoreShared,
};

/// One inbox item, verified: an owner-signed grant statement and the `b1`
/// envelope it commits to. Whether its signer owns the record it names is
/// only known against the record's manifest (`Inbox.record`).
#[wasm_bindgen]
pub struct InboxItem(CoreItem);

#[wasm_bindgen]
impl InboxItem {
    /// Verifies the statement's signature and that the envelope is the one
    /// it commits to (`binding_mismatch`).
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(statement: &[u8], b1_envelope: &[u8]) -> Result<InboxItem, JsValue> {
        Ok(InboxItem(CoreItem::from_bytes(statement, b1_envelope)?))
    }
    /// The item's id (hex): its statement's hash, under which the relay keeps it.
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        hex::encode(self.0.id())
    }
    /// The record it names (hex).
    #[wasm_bindgen(getter, js_name = recordId)]
    pub fn record_id(&self) -> String {
        self.0.grant().record.to_hex()
    }
}

/// The verified items of a reader's inbox, by record. Who owns each record
/// is learnt from its manifest (`record`).
#[wasm_bindgen]
pub struct Inbox(CoreInbox);

impl Default for Inbox {
    fn default() -> Self {
        Inbox::new()
    }
}

#[wasm_bindgen]
impl Inbox {
    /// An empty inbox.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Inbox {
        Inbox(CoreInbox::new())
    }
    /// Keeps an item if it is addressed to `me` and not already held;
    /// returns whether it was kept.
    pub fn add(&mut self, me: &PublicIdentity, item: &InboxItem) -> bool {
        self.0.add(&me.0, item.0.clone())
    }
    /// The records the kept items name (hex), in id order.
    pub fn records(&self) -> Vec<String> {
        self.0.records().map(|r| r.to_hex()).collect()
    }
    /// The grants of `manifest`'s record signed by its owner (the party the
    /// record id is bound to); items by anyone else are set aside as
    /// `foreign`. `not_granted` if the owner signed none.
    pub fn record(&self, manifest: &VerifiedManifest) -> Result<SharedRecord, JsValue> {
        Ok(SharedRecord(self.0.record(&manifest.0)?))
    }
}

/// One shared section: its grants, newest first.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SectionView {
    section_id: String,
    grants: Vec<GrantView>,
}

/// One body of a section's history.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VersionView {
    version: f64,
    readable: bool,
}

/// The grants of one record from its owner, by section.
#[wasm_bindgen]
pub struct SharedRecord(pub(crate) CoreShared);

#[wasm_bindgen]
impl SharedRecord {
    /// The record id (hex).
    #[wasm_bindgen(getter, js_name = recordId)]
    pub fn record_id(&self) -> String {
        self.0.record().to_hex()
    }
    /// The record's owner.
    #[wasm_bindgen(getter)]
    pub fn owner(&self) -> PublicIdentity {
        PublicIdentity(self.0.owner().clone())
    }
    /// The shared sections: `[{sectionId, grants}]`, each section's grants
    /// newest (highest sequence) first, as `VerifiedGrant.view()` describes
    /// them.
    pub fn sections(&self) -> Result<JsValue, JsValue> {
        let v: Vec<SectionView> = self
            .0
            .sections()
            .map(|(s, items)| SectionView {
                section_id: s.to_hex(),
                grants: items.iter().map(|i| grant_view(i.grant())).collect(),
            })
            .collect();
        to_js(&v)
    }
    /// Ids (hex) of the inbox items that name this record but are signed by
    /// someone other than its owner: never used; clear them at the relay.
    pub fn foreign(&self) -> Vec<String> {
        self.0.foreign().iter().map(hex::encode).collect()
    }
    /// The bodies a section had along `chain`, oldest first:
    /// `[{version, readable}]` (read one at its `version`).
    pub fn history(&self, section_id: &str, chain: &ManifestChain) -> Result<JsValue, JsValue> {
        let v: Vec<VersionView> = self
            .0
            .history(&section(section_id)?, &chain.0)
            .into_iter()
            .map(|h| VersionView {
                version: h.version as f64,
                readable: h.readable,
            })
            .collect();
        to_js(&v)
    }
    /// Starts reading a section at record `version`, which `chain` must
    /// hold (it runs from that version to the relay's latest); `highWater`
    /// is the highest version of this record the reader saw witnessed.
    pub fn read(
        &self,
        me: &Identity,
        section_id: &str,
        chain: &ManifestChain,
        version: f64,
        high_water: f64,
    ) -> Result<SectionRead, JsValue> {
        let high_water = to_u64(high_water, "highWater")?;
        let tip = chain.0.tip().version();
        self.0
            .read(
                &me.0,
                &section(section_id)?,
                &chain.0,
                to_u64(version, "version")?,
                high_water,
            )
            .map(SectionRead)
            .map_err(|e| freshness(e, tip, Some(high_water), high_water))
    }
}

/// Which record version a reader reads, from the SRS's signed head and the
/// relay's latest manifest: `requested` if given (it must be witnessed:
/// not after the head), else the head's version, which is older than the
/// relay's latest when the relay holds a version the SRS has not witnessed
/// yet. `stale` (in plain words) when the relay is behind the head or the
/// head is older than `highWater`.
#[wasm_bindgen(js_name = readableVersion)]
pub fn readable_version(
    head: &SignedHead,
    latest: &VerifiedManifest,
    high_water: f64,
    requested: Option<f64>,
) -> Result<f64, JsValue> {
    let high_water = to_u64(high_water, "highWater")?;
    let (head, latest) = (&head.0, &latest.0);
    if head.record != latest.record() {
        return Err(crate::Error::BindingMismatch("head is for another record").into());
    }
    if head.version < high_water || latest.version() < head.version {
        return Err(stale_error(
            latest.version(),
            Some(head.version),
            high_water,
        ));
    }
    let version = match requested {
        None => head.version,
        Some(v) => {
            let v = to_u64(v, "version")?;
            if v == 0 || v > head.version {
                return Err(arg(&format!(
                    "version {v} is not one the re-encryption server witnessed (1 to {})",
                    head.version
                )));
            }
            v
        }
    };
    Ok(version as f64)
}

/// One read of a section version in progress, over its candidate grants
/// (newest first): send `nextRequest()` to the SRS (through the relay) and
/// give the reply to `answer` (HTTP 200) or `refused` (HTTP 403 with a
/// decision code); repeat until `answer` returns the opened section or
/// `nextRequest` returns undefined, then throw `failure()`.
#[wasm_bindgen]
pub struct SectionRead(CoreRead);

#[wasm_bindgen]
impl SectionRead {
    /// The manifest entry being read.
    #[wasm_bindgen(getter)]
    pub fn entry(&self) -> Result<JsValue, JsValue> {
        entry_js(self.0.entry())
    }
    /// The record version being read.
    #[wasm_bindgen(getter)]
    pub fn version(&self) -> f64 {
        self.0.version() as f64
    }
    /// The high-water mark after this read (raised by a verified head):
    /// persist it for the record.
    #[wasm_bindgen(getter, js_name = highWater)]
    pub fn high_water(&self) -> f64 {
        self.0.high_water() as f64
    }
    /// The audit receipts of every answer the SRS gave this read, encoded:
    /// forward them to the record's owner (`sealReceipts`).
    pub fn receipts(&self) -> Result<Vec<js_sys::Uint8Array>, JsValue> {
        self.0
            .receipts()
            .iter()
            .map(|r| Ok(js_sys::Uint8Array::from(r.to_bytes()?.as_slice())))
            .collect()
    }
    /// The next candidate's request, signed by `me` at `now` and sealed to
    /// the pinned SRS; undefined when every candidate was tried.
    #[wasm_bindgen(js_name = nextRequest)]
    pub fn next_request(
        &mut self,
        me: &Identity,
        srs: &PublicIdentity,
        now: f64,
    ) -> Result<Option<Vec<u8>>, JsValue> {
        Ok(self
            .0
            .next_request(&me.0, &srs.0.encryption, to_u64(now, "now")?, &mut os_rng())?)
    }
    /// Gives the SRS's reply to the last request: the sealed answer bytes
    /// (HTTP 200), or the decision code of a refusal (an HTTP 403 carries
    /// it: `revoked`, `expired`, …). Returns the opened section `{dataKey,
    /// entry, version, head}` once an answer verifies, or undefined if this
    /// candidate failed (try the next). Throws when the answer's head shows
    /// that the chain is not fresh (`stale`: the record changed meanwhile or
    /// the relay is behind; `binding_mismatch`: a fork), which no other
    /// grant would change.
    pub fn answer(
        &mut self,
        srs: &PublicIdentity,
        reply: JsValue,
    ) -> Result<Option<Object>, JsValue> {
        let before = self.0.high_water();
        let bytes;
        let reply = match reply.as_string() {
            Some(code) => Reply::Refused(
                Decision::from_code(&code)
                    .filter(|d| *d != Decision::Allowed)
                    .ok_or_else(|| arg("not a refusal decision code"))?,
            ),
            None => {
                bytes = reply
                    .dyn_into::<js_sys::Uint8Array>()
                    .map_err(|_| arg("a reply is the answer's bytes or a decision code"))?
                    .to_vec();
                Reply::Answer(&bytes)
            }
        };
        let opened = match self.0.answer(&srs.0, reply) {
            Ok(o) => o,
            // The head is older than the high-water mark, or newer than
            // the chain's tip (see `ManifestChain::check_head`).
            Err(crate::Error::Stale { found, known }) if known == before && found < before => {
                return Err(stale_error(found, Some(found), before))
            }
            Err(crate::Error::Stale { found, known }) => {
                return Err(stale_error(found, Some(known), before))
            }
            Err(e) => return Err(e.into()),
        };
        let Some(o) = opened else {
            return Ok(None);
        };
        let out = Object::new();
        Reflect::set(&out, &"dataKey".into(), &DataKey(o.data_key).into())?;
        Reflect::set(&out, &"entry".into(), &entry_js(&o.entry)?)?;
        Reflect::set(&out, &"version".into(), &(o.version as f64).into())?;
        Reflect::set(&out, &"head".into(), &SignedHead(o.head).into())?;
        Ok(Some(out))
    }
    /// Why the read failed once every candidate was tried: the first answer
    /// that failed verification, if any, else the newest candidate's error
    /// (a refusal carries the SRS's decision as its code).
    pub fn failure(&self) -> JsValue {
        self.0.failure().into()
    }
}
