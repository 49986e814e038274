//! The passphrase vault: a seed wrapped under Argon2id + AES-256-GCM, for
//! browser storage and backup files.

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use super::{from_js, to_js, Identity};
use crate::identity::Identity as CoreIdentity;
use crate::primitives::os_rng;
use crate::vault::{self, Cost};

/// Argon2id costs as a plain object.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsCost {
    memory_kib: u32,
    iterations: u32,
    lanes: u32,
}

#[wasm_bindgen]
impl Identity {
    /// The seed wrapped under `passphrase` (Argon2id + AES-256-GCM), for
    /// IndexedDB and backup files. `cost` (`{memoryKib, iterations, lanes}`)
    /// defaults to 64 MiB, 3 passes, 1 lane.
    pub fn wrap(&self, passphrase: &str, cost: JsValue) -> Result<Vec<u8>, JsValue> {
        let cost = if cost.is_undefined() || cost.is_null() {
            Cost::DEFAULT
        } else {
            let c: JsCost = from_js(cost, "cost")?;
            Cost {
                memory_kib: c.memory_kib,
                iterations: c.iterations,
                lanes: c.lanes,
            }
        };
        Ok(vault::wrap(self.0.seed(), passphrase, cost, &mut os_rng())?)
    }
    /// Opens a wrapped seed; a wrong passphrase throws `decryption_failed`.
    pub fn unwrap(wrapped: &[u8], passphrase: &str) -> Result<Identity, JsValue> {
        Ok(Identity(CoreIdentity::from_seed(vault::unwrap(
            wrapped, passphrase,
        )?)?))
    }
}

/// The Argon2id cost a wrapped seed asks for: `{memoryKib, iterations, lanes}`.
#[wasm_bindgen(js_name = wrappedSeedCost)]
pub fn wrapped_seed_cost(wrapped: &[u8]) -> Result<JsValue, JsValue> {
    let c = vault::cost_of(wrapped)?;
    to_js(&JsCost {
        memory_kib: c.memory_kib,
        iterations: c.iterations,
        lanes: c.lanes,
    })
}
