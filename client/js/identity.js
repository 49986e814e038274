// A party's identity: its seed and keys stay inside wasm memory.

import { core } from "./wasm.js";

/** A party: seed and keys, kept inside wasm. Call `free()` when done. */
export class Identity {
  #inner;
  #public;
  constructor(inner) {
    this.#inner = inner;
  }
  /** A new identity from a fresh random seed. */
  static generate() {
    return new Identity(core.Identity.generate());
  }
  /** An identity from its 32-byte seed. */
  static fromSeed(seed) {
    return new Identity(core.Identity.fromSeed(seed));
  }
  /** Opens a seed wrapped by `wrap()`; a wrong passphrase throws `decryption_failed`. */
  static unwrap(wrapped, passphrase) {
    return new Identity(core.Identity.unwrap(wrapped, passphrase));
  }
  /** The party id (64 hex characters). */
  get id() {
    return this.#inner.id;
  }
  /** The fingerprint to compare out of band. */
  get fingerprint() {
    return this.#inner.fingerprint;
  }
  /** The 66-byte public identity (signing key ‖ encryption key). */
  get publicKey() {
    return this.#inner.publicKey;
  }
  /** The seed wrapped under a passphrase (Argon2id, 64 MiB by default). */
  wrap(passphrase, cost) {
    return this.#inner.wrap(passphrase, cost);
  }
  /** The raw seed: only for the owner's own backup. */
  exportSeed() {
    return this.#inner.exportSeed();
  }
  /** Wipes the keys from wasm memory. */
  free() {
    this.#public?.free();
    this.#inner.free();
  }
  /** @internal */
  get core() {
    return this.#inner;
  }
  /** @internal The public identity, as the core's PublicIdentity. */
  get publicIdentity() {
    this.#public ??= this.#inner.public;
    return this.#public;
  }
}

/** The Argon2id cost a wrapped seed asks for. */
export function wrappedSeedCost(wrapped) {
  return core.wrappedSeedCost(wrapped);
}
