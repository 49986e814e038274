//! Shard placement: a section's similarity signature (computed here, never
//! sent) and the plan of which relays hold each section's shards.

use wasm_bindgen::prelude::*;

use super::{arg, to_js, to_u64};
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
