//! Shard placement: a section's similarity signature (computed here, never
//! sent) and the plan of which relays hold each section's shards.

use wasm_bindgen::prelude::*;

use super::{arg, to_js, to_u64};
use crate::holders::Holders;
use crate::placement::{plan, Policy, Signature, SIGNATURE_LEN};

/// The MinHash similarity signature of a section's text (its content
/// tokens), as `Uint8Array` of 256 bytes. Keep it in the browser: it shows
/// which sections are alike and lets a holder test guessed words.
#[wasm_bindgen(js_name = placementSignature)]
pub fn placement_signature(text: &str) -> Vec<u8> {
    Signature::of_text(text).to_bytes().to_vec()
}

/// For each section, the `n` distinct relay indices (below `relays`) its
/// shards go to, as `number[][]`: `plan[s][i]` holds shard `i` of section `s`.
/// `signatures` is the sections' `placementSignature`s concatenated;
/// `policy` is `similarity`, `round-robin` or `random` (which needs a
/// `seed`, a safe integer). Requires `2 ≤ k < n ≤ relays ≤ 64`; every
/// failure is `invalid_argument`.
#[wasm_bindgen(js_name = placementPlan)]
pub fn placement_plan(
    signatures: &[u8],
    relays: f64,
    n: f64,
    k: f64,
    policy: &str,
    seed: Option<f64>,
) -> Result<JsValue, JsValue> {
    if !signatures.len().is_multiple_of(SIGNATURE_LEN) {
        return Err(arg("signatures are 256 bytes each, concatenated"));
    }
    let sigs = signatures
        .chunks_exact(SIGNATURE_LEN)
        .map(Signature::from_bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| arg(&e.to_string()))?;
    let policy = match (policy, seed) {
        ("similarity", _) => Policy::Similarity,
        ("round-robin", _) => Policy::RoundRobin,
        ("random", Some(seed)) => Policy::Random {
            seed: to_u64(seed, "seed")?,
        },
        ("random", None) => return Err(arg("the random policy needs a seed")),
        _ => return Err(arg("policy is similarity, round-robin or random")),
    };
    let count = |v: f64, what: &str| -> Result<usize, JsValue> {
        usize::try_from(to_u64(v, what)?).map_err(|_| arg(&format!("{what} is too large")))
    };
    let placed = plan(
        &sigs,
        count(relays, "relays")?,
        count(n, "n")?,
        count(k, "k")?,
        policy,
    )
    .map_err(|e| arg(&e.to_string()))?;
    to_js(&placed)
}

/// Who may hold which shards of one blob, and so where a shard may go
/// (`sesphr_client::holders`): a store and a repair ask it before every
/// put, so that no relay ever holds `k` or more shards of a section,
/// counting a put whose answer never came as stored and a relay that did
/// not answer a survey as holding anything. Shards are numbers `0..n`,
/// relays the pool's indices; shard sets are bit masks (bit `i`, shard `i`).
/// Every misuse is `invalid_argument`.
#[wasm_bindgen]
pub struct ShardHolders(pub(super) Holders);

#[wasm_bindgen]
impl ShardHolders {
    /// `fresh`: a new blob that no relay holds anything of (a store);
    /// otherwise nothing is known until `observe` (a repair).
    #[wasm_bindgen(constructor)]
    pub fn new(k: u8, n: u8, relays: u32, fresh: bool) -> Result<ShardHolders, JsValue> {
        let relays = relays as usize;
        let h = if fresh {
            Holders::new(k, n, relays)
        } else {
            Holders::unknown(k, n, relays)
        };
        h.map(ShardHolders).map_err(|e| arg(&e.to_string()))
    }

    /// `relay` answered every survey question: `present` the shards it
    /// holds any part of, `whole` those it holds with a verified index.
    pub fn observe(&mut self, relay: u32, present: u16, whole: u16) -> Result<(), JsValue> {
        self.0
            .observe(relay as usize, present, whole)
            .map_err(|e| arg(&e.to_string()))
    }

    /// Before a put: refuses if `relay` may not take `shard`; else counts
    /// it as possibly held, whatever the answer.
    pub fn send(&mut self, relay: u32, shard: u8) -> Result<(), JsValue> {
        self.0
            .send(relay as usize, shard)
            .map_err(|e| arg(&e.to_string()))
    }

    /// `relay` acknowledged `shard` and its index.
    pub fn stored(&mut self, relay: u32, shard: u8) -> Result<(), JsValue> {
        self.0
            .stored(relay as usize, shard)
            .map_err(|e| arg(&e.to_string()))
    }

    /// The relay to send `shard` to next, not among `tried`, or `undefined`.
    pub fn target(&self, shard: u8, tried: Vec<u32>) -> Result<Option<u32>, JsValue> {
        let mut mask = 0u64;
        for r in tried {
            if r as usize >= self.0.relays() {
                return Err(arg("no such relay in the pool"));
            }
            mask |= 1 << r;
        }
        let t = self
            .0
            .target(shard, mask)
            .map_err(|e| arg(&e.to_string()))?;
        Ok(t.map(|r| r as u32))
    }

    /// Shards no relay is known to hold whole, ascending.
    pub fn missing(&self) -> Vec<u8> {
        self.0.missing()
    }

    /// Distinct relays known to hold a whole shard.
    #[wasm_bindgen(getter)]
    pub fn reached(&self) -> u32 {
        self.0.reached() as u32
    }
}
