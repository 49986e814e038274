//! Erasure-coded shards ([`crate::shard`]): the owner's encoder and sealed
//! placement, the reader's plan, per-shard index checks and decoder. The
//! npm package moves the bytes (which relay, which ranges, hedging); every
//! rule about them is here.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::attachment::AttachmentKey;
use super::manifest::JsEntry;
use super::record::DataKey;
use super::stream::SectionEncryptor;
use super::{arg, to_js, to_u64};
use super::{hex32, section};
use crate::record::RecordId;
use crate::secret::SymmetricKey;
use crate::shard::{
    self, EntryBinding, Expected, PlacedHeader, Placement, ShardDecoder as CoreDecoder,
    ShardEncoder as CoreEncoder, ShardHeader, ShardParams, ShardRef, VerifiedShardIndex,
};
use crate::stream::ChunkIndex;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsShard {
    root: String,
    index_id: String,
}

/// The key that seals one section version's placement (owner side; taken
/// from its `SectionEncryptor` before `finish`).
#[wasm_bindgen]
pub struct PlacementKey(SymmetricKey);

#[wasm_bindgen]
impl SectionEncryptor {
    /// This version's placement key, for sealing a sharded entry.
    #[wasm_bindgen(js_name = placementKey)]
    pub fn placement_key(&self) -> PlacementKey {
        PlacementKey(self.data_key().placement.clone())
    }
}

/// What a sealed placement is bound to: the blob's `{chunkRoot,
/// blobLength, indexId}` (a manifest entry, or an attachment's sealed
/// entry), as plain fields.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsBinding {
    chunk_root: String,
    blob_length: f64,
    index_id: String,
    #[serde(default)]
    placement: Option<ByteBuf>,
}

impl JsBinding {
    fn parse(v: JsValue) -> Result<(EntryBinding, Option<Vec<u8>>), JsValue> {
        let b: JsBinding = serde_wasm_bindgen::from_value(v).map_err(|e| {
            arg(&format!(
                "not a blob's {{chunkRoot, blobLength, indexId}}: {e}"
            ))
        })?;
        Ok((
            EntryBinding {
                chunk_root: hex32(&b.chunk_root, "chunkRoot")?,
                blob_len: to_u64(b.blob_length, "blobLength")?,
                index_id: hex32(&b.index_id, "indexId")?,
            },
            b.placement.map(|p| p.to_vec()),
        ))
    }
}

#[wasm_bindgen]
impl AttachmentKey {
    /// The placement key of this attachment in `recordId`'s section
    /// `sectionId`, for sealing it sharded.
    #[wasm_bindgen(js_name = placementKey)]
    pub fn placement_key(
        &self,
        record_id: &str,
        section_id: &str,
    ) -> Result<PlacementKey, JsValue> {
        let record = RecordId(hex32(record_id, "recordId")?);
        let dk = self.0.data_key(&record, &section(section_id)?);
        Ok(PlacementKey(dk.placement.clone()))
    }
    /// Opens a sharded attachment's sealed placement: `attachment` is
    /// `{chunkRoot, blobLength, indexId, placement}` from its section
    /// document (`root`, `length`, `index`, `placement`).
    #[wasm_bindgen(js_name = openPlacement)]
    pub fn open_placement(
        &self,
        record_id: &str,
        section_id: &str,
        attachment: JsValue,
    ) -> Result<ShardPlan, JsValue> {
        let record = RecordId(hex32(record_id, "recordId")?);
        let section = section(section_id)?;
        let (binding, sealed) = JsBinding::parse(attachment)?;
        let sealed = sealed.ok_or_else(|| arg("the attachment is not sharded"))?;
        let dk = self.0.data_key(&record, &section);
        let expect = Expected::Attachment { record, section };
        Ok(ShardPlan(Placement::open(
            &dk.placement,
            &binding,
            &expect,
            &sealed,
        )?))
    }
}

/// Codes a section's payload (`chunkIndex ‖ blob after its header`) into
/// `n` shards of which any `k` give it back.
#[wasm_bindgen]
pub struct ShardEncoder(CoreEncoder);

#[wasm_bindgen]
impl ShardEncoder {
    /// An encoder for the blob with header `header` (a section blob's or
    /// an attachment's first bytes): `k` of `n` shards, pieces sized for
    /// the payload.
    #[wasm_bindgen(constructor)]
    pub fn new(header: &[u8], k: u8, n: u8) -> Result<ShardEncoder, JsValue> {
        let len = PlacedHeader::from_prefix(header)?.payload_len();
        Ok(ShardEncoder(CoreEncoder::new(
            ShardParams::for_payload(k, n, len)?,
            len,
        )?))
    }
    /// Stripes in all.
    #[wasm_bindgen(getter)]
    pub fn stripes(&self) -> f64 {
        self.0.stripes() as f64
    }
    /// Bytes of one piece (of each shard per stripe).
    #[wasm_bindgen(getter, js_name = pieceSize)]
    pub fn piece_size(&self) -> f64 {
        self.0.piece_size() as f64
    }
    /// Length of every shard.
    #[wasm_bindgen(getter, js_name = shardLength)]
    pub fn shard_length(&self) -> f64 {
        self.0.shard_len() as f64
    }
    /// The header of shard `i` (the first bytes of that object).
    pub fn header(&self, i: u8) -> Result<Vec<u8>, JsValue> {
        Ok(self.0.header(i)?)
    }
    /// Payload bytes stripe `j` takes.
    #[wasm_bindgen(js_name = stripeInputLength)]
    pub fn stripe_input_length(&self, j: f64) -> Result<f64, JsValue> {
        Ok(self.0.stripe_input_len(to_u64(j, "stripe")?) as f64)
    }
    /// Codes the next stripe: the `n` pieces, concatenated (`pieceSize` each).
    #[wasm_bindgen(js_name = encodeStripe)]
    pub fn encode_stripe(&mut self, data: &[u8]) -> Result<Vec<u8>, JsValue> {
        Ok(self.0.encode_stripe(data)?)
    }
    /// `encodeStripe` without hashing the pieces: give their SHA-256s
    /// (WebCrypto) to `commitDigests` before the next stripe.
    #[wasm_bindgen(js_name = encodeStripeUnhashed)]
    pub fn encode_stripe_unhashed(&mut self, data: &[u8]) -> Result<Vec<u8>, JsValue> {
        Ok(self.0.encode_stripe_unhashed(data)?)
    }
    /// The last stripe's `n` piece digests, concatenated in shard order.
    #[wasm_bindgen(js_name = commitDigests)]
    pub fn commit_digests(&mut self, digests: &[u8]) -> Result<(), JsValue> {
        Ok(self.0.commit_digests(digests)?)
    }
    /// Ends the coding without sealing (a repair, which checks the roots
    /// against the owner's): `[{root, indexId, index}]`.
    pub fn finish(self) -> Result<JsValue, JsValue> {
        let done = self.0.finish()?;
        to_js(&done.into_iter().map(finished).collect::<Vec<_>>())
    }
    /// Ends the coding of the blob `binding` (`{chunkRoot, blobLength,
    /// indexId}`: the manifest entry from `SectionEncryptor.finish`, or an
    /// attachment's), whose header is `header`: an `UnsealedPlacement`
    /// whose `shards` are `[{root, indexId, index}]`. Store shard `i` and
    /// its `index`, then `seal` the placement with the pool's record.
    #[wasm_bindgen(js_name = finishPlacement)]
    pub fn finish_placement(
        self,
        binding: JsValue,
        header: &[u8],
    ) -> Result<UnsealedPlacement, JsValue> {
        let (binding, _) = JsBinding::parse(binding)?;
        let header = PlacedHeader::from_prefix(header)?;
        if header.blob_len() != binding.blob_len {
            return Err(arg("the header is not the blob's"));
        }
        let params = self.0.params();
        let done = self.0.finish()?;
        let placement = Placement {
            params,
            header,
            shards: done.iter().map(|(r, _)| r.clone()).collect(),
            slots: None,
        };
        Ok(UnsealedPlacement {
            shards: to_js(&done.into_iter().map(finished).collect::<Vec<_>>())?,
            placement,
            binding,
        })
    }
}

/// A coded blob whose placement is sealed once its shards are placed, so
/// that it records which relays may ever hold which shards.
#[wasm_bindgen]
pub struct UnsealedPlacement {
    placement: Placement,
    binding: EntryBinding,
    shards: JsValue,
}

#[wasm_bindgen]
impl UnsealedPlacement {
    /// `[{root, indexId, index}]`: shard `i`'s address, its index's
    /// address, and the index bytes.
    #[wasm_bindgen(getter)]
    pub fn shards(&self) -> JsValue {
        self.shards.clone()
    }
    /// Seals the placement under `key` with the pool's record: `pool` the
    /// relays' base URLs in the store's order, `holders` the store's
    /// `ShardHolders` (what each relay was sent; a relay sent nothing may
    /// take `k − 1` shards in a repair). Set the result as the entry's (or the
    /// attachment's) `placement`.
    pub fn seal(
        &self,
        key: &PlacementKey,
        pool: Vec<String>,
        holders: &super::placement::ShardHolders,
    ) -> Result<Vec<u8>, JsValue> {
        let masks = holders.0.slots().map_err(|e| arg(&e.to_string()))?;
        if masks.len() != pool.len() {
            return Err(arg("one base URL per relay of the pool"));
        }
        let mut slots: Vec<shard::Slot> = pool
            .iter()
            .zip(masks)
            .map(|(url, shards)| shard::Slot {
                relay: shard::relay_tag(url),
                shards,
            })
            .collect();
        slots.sort_unstable_by_key(|a| a.relay);
        let placement = Placement {
            slots: Some(slots),
            ..self.placement.clone()
        };
        Ok(placement.seal(&key.0, &self.binding)?)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Finished {
    root: String,
    index_id: String,
    index: ByteBuf,
}

fn finished((r, index): (ShardRef, ChunkIndex)) -> Finished {
    Finished {
        root: hex::encode(r.root),
        index_id: hex::encode(r.index_id),
        index: ByteBuf::from(index.to_bytes()),
    }
}

/// `malformed` unless `plan` (the relay of each shard, as numbers that
/// name relays) gives no relay `k` or more shards of the section.
#[wasm_bindgen(js_name = checkShardPlan)]
pub fn check_shard_plan(k: u8, n: u8, plan: Vec<u32>) -> Result<(), JsValue> {
    let params = ShardParams::new(k, n, 1)?;
    let plan: Vec<usize> = plan.into_iter().map(|r| r as usize).collect();
    Ok(shard::check_plan(&params, &plan)?)
}

fn tags(pool: &[String]) -> Vec<crate::merkle::Hash> {
    pool.iter().map(|u| shard::relay_tag(u)).collect()
}

/// A sharded section's opened placement (reader or owner side): what to
/// fetch and how to check and decode it.
#[wasm_bindgen]
pub struct ShardPlan(Placement);

#[wasm_bindgen]
impl DataKey {
    /// Opens the sealed placement of a sharded manifest `entry` with this
    /// data key: `decryption_failed` for another key or entry,
    /// `binding_mismatch` for a header of another blob.
    #[wasm_bindgen(js_name = openPlacement)]
    pub fn open_placement(&self, entry: JsValue) -> Result<ShardPlan, JsValue> {
        let entry: JsEntry = serde_wasm_bindgen::from_value(entry)
            .map_err(|e| arg(&format!("not a manifest entry: {e}")))?;
        Ok(ShardPlan(entry.to_core()?.open_placement(&self.0)?))
    }
}

#[wasm_bindgen]
impl ShardPlan {
    /// Shards needed.
    #[wasm_bindgen(getter)]
    pub fn k(&self) -> u8 {
        self.0.params.k
    }
    /// Shards written.
    #[wasm_bindgen(getter)]
    pub fn n(&self) -> u8 {
        self.0.params.n
    }
    /// Bytes of one piece.
    #[wasm_bindgen(getter, js_name = pieceSize)]
    pub fn piece_size(&self) -> f64 {
        self.0.params.piece_size() as f64
    }
    /// Stripes (pieces per shard).
    #[wasm_bindgen(getter)]
    pub fn stripes(&self) -> f64 {
        self.0.params.stripes(self.0.payload_len()) as f64
    }
    /// Length of every shard.
    #[wasm_bindgen(getter, js_name = shardLength)]
    pub fn shard_length(&self) -> f64 {
        self.0.params.shard_len(self.0.payload_len()) as f64
    }
    /// Payload length (chunk index, then the blob after its header).
    #[wasm_bindgen(getter, js_name = payloadLength)]
    pub fn payload_length(&self) -> f64 {
        self.0.payload_len() as f64
    }
    /// Length of the chunk index at the start of the payload.
    #[wasm_bindgen(getter, js_name = indexLength)]
    pub fn index_length(&self) -> f64 {
        self.0.header.index_len() as f64
    }
    /// The blob header (what a whole blob starts with).
    #[wasm_bindgen(getter)]
    pub fn header(&self) -> Vec<u8> {
        self.0.header.to_bytes()
    }
    /// For each relay of `pool` (base URLs), the shards to ask it for, as
    /// bit masks: those the placement records for it, or every shard for
    /// a relay it does not name (or a placement written before records).
    pub fn asks(&self, pool: Vec<String>) -> Vec<u16> {
        self.0.asks(&tags(&pool))
    }
    /// Restricts a repair's `holders` to the placement's record: a relay
    /// of `pool` gets only the shards recorded for it (none if it is not
    /// named). A placement written before records restricts nothing.
    pub fn restrict(
        &self,
        holders: &mut super::placement::ShardHolders,
        pool: Vec<String>,
    ) -> Result<(), JsValue> {
        if let Some(allowed) = self.0.allowed(&tags(&pool)) {
            for (r, shards) in allowed.into_iter().enumerate() {
                holders
                    .0
                    .restrict(r, shards)
                    .map_err(|e| arg(&e.to_string()))?;
            }
        }
        Ok(())
    }
    /// Each shard's `{root, indexId}` (hex): where to fetch it.
    pub fn shards(&self) -> Result<JsValue, JsValue> {
        let v: Vec<JsShard> = self
            .0
            .shards
            .iter()
            .map(|s| JsShard {
                root: hex::encode(s.root),
                index_id: hex::encode(s.index_id),
            })
            .collect();
        to_js(&v)
    }
    /// Checks shard `i`'s fetched chunk index against its root:
    /// `content_mismatch` for another shard's, or a forged one.
    #[wasm_bindgen(js_name = verifyIndex)]
    pub fn verify_index(&self, i: u8, index: &[u8]) -> Result<ShardIndex, JsValue> {
        let r: &ShardRef = self
            .0
            .shards
            .get(usize::from(i))
            .ok_or_else(|| arg("no such shard"))?;
        let header = self.0.shard_header(i);
        Ok(ShardIndex(VerifiedShardIndex::new(
            &header,
            ChunkIndex::from_bytes(index)?,
            &r.root,
        )?))
    }
    /// A decoder of the payload.
    pub fn decoder(&self) -> Result<ShardDecoder, JsValue> {
        Ok(ShardDecoder(CoreDecoder::new(
            self.0.params,
            self.0.payload_len(),
        )?))
    }
}

/// One shard's verified chunk index.
#[wasm_bindgen]
pub struct ShardIndex(VerifiedShardIndex);

#[wasm_bindgen]
impl ShardIndex {
    /// `[offset, length]` of piece `j` in the shard (a Range to fetch).
    #[wasm_bindgen(js_name = pieceRange)]
    pub fn piece_range(&self, j: f64) -> Result<Vec<f64>, JsValue> {
        let header: &ShardHeader = self.0.header();
        let (at, len) = header.piece_range(to_u64(j, "piece")?);
        Ok(vec![at as f64, len as f64])
    }
    /// `content_mismatch` unless `piece` is piece `j` of this shard.
    pub fn check(&self, j: f64, piece: &[u8]) -> Result<(), JsValue> {
        Ok(self.0.check(to_u64(j, "piece")?, piece)?)
    }
    /// `check` from the piece's SHA-256 (WebCrypto): then use exactly the
    /// bytes hashed.
    #[wasm_bindgen(js_name = checkDigest)]
    pub fn check_digest(&self, j: f64, digest: &[u8]) -> Result<(), JsValue> {
        let d: [u8; 32] = digest.try_into().map_err(|_| arg("a digest is 32 bytes"))?;
        Ok(self.0.check_digest(to_u64(j, "piece")?, &d)?)
    }
}

/// Decodes a sharded payload stripe by stripe.
#[wasm_bindgen]
pub struct ShardDecoder(CoreDecoder);

#[wasm_bindgen]
impl ShardDecoder {
    /// Passes over `count` stripes the caller assembled from the data
    /// shards itself (`invalid_state` past the last stripe).
    pub fn skip(&mut self, count: f64) -> Result<(), JsValue> {
        Ok(self.0.skip(to_u64(count, "count")?)?)
    }
    /// The next stripe's payload bytes from its pieces: `pieces[i]` shard
    /// `i`'s checked piece or undefined, at least `k` present.
    #[wasm_bindgen(js_name = decodeStripe)]
    pub fn decode_stripe(&mut self, pieces: Vec<JsValue>) -> Result<Vec<u8>, JsValue> {
        let mut slots = byte_slots(pieces)?;
        Ok(self.0.decode_stripe(&mut slots)?)
    }
    /// The next `count` stripes' payload bytes from each shard's window of
    /// `count` checked pieces (`windows[i]`: a Uint8Array of `count ·
    /// pieceSize` bytes, or undefined), at least `k` present.
    #[wasm_bindgen(js_name = decodeWindow)]
    pub fn decode_window(&mut self, count: f64, windows: Vec<JsValue>) -> Result<Vec<u8>, JsValue> {
        let owned = byte_slots(windows)?;
        let views: Vec<Option<&[u8]>> = owned.iter().map(|o| o.as_deref()).collect();
        Ok(self.0.decode_window(to_u64(count, "count")?, &views)?)
    }
}

/// One slot per shard: a Uint8Array's bytes, or `None` for undefined/null.
fn byte_slots(v: Vec<JsValue>) -> Result<Vec<Option<Vec<u8>>>, JsValue> {
    v.into_iter()
        .map(|p| {
            if p.is_undefined() || p.is_null() {
                Ok(None)
            } else {
                p.dyn_into::<js_sys::Uint8Array>()
                    .map(|a| Some(a.to_vec()))
                    .map_err(|_| arg("a shard's bytes are a Uint8Array or undefined"))
            }
        })
        .collect()
}
