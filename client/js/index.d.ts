// Types of the SeSPHR client's public API (index.js).

/** Every failure: a stable machine-readable `code`, and the HTTP `status` when a server refused. */
export class SesphrError extends Error {
  constructor(code: string, message: string, options?: { status?: number; cause?: unknown });
  readonly name: "SesphrError";
  /** e.g. `revoked`, `expired`, `bad_signature`, `decryption_failed`, `network`, `invalid_argument`. */
  readonly code: string;
  /** The HTTP status of a server refusal. */
  readonly status: number | undefined;
}

/** What `init` accepts: nothing (load beside this file), or the wasm itself. */
export type WasmSource = BufferSource | Response | URL | string | WebAssembly.Module | Promise<Response>;

/** Loads the wasm module once (idempotent). Node reads it from disk. */
export function init(source?: WasmSource): Promise<void>;
/** Whether bulk encryption uses the browser's WebCrypto (else pure wasm, slower). */
export function webCryptoAvailable(): boolean;
/** The standard section names. */
export function standardSections(): string[];
/** The sections of a role preset. */
export function roleSections(role: Role): string[];
/** Lower-case hex of bytes. */
export function toHex(bytes: Uint8Array): string;
/** Bytes of a hex string (throws `invalid_argument`). */
export function fromHex(hex: string): Uint8Array;

export type Role = "custom" | "family" | "physician" | "nurse" | "pharmacist" | "insurer" | "researcher" | "lab";

/** Argon2id cost of a wrapped seed. */
export interface Cost {
  memoryKib: number;
  iterations: number;
  lanes: number;
}

/** A party's public identity. */
export interface Party {
  /** Party id, 64 hex characters. */
  id: string;
  /** Human fingerprint to compare out of band. */
  fingerprint: string;
  /** Signing key ‖ encryption key (66 bytes). */
  publicKey: Uint8Array;
}

/** A party: seed and keys, held inside wasm memory. */
export class Identity {
  private constructor();
  static generate(): Identity;
  static fromSeed(seed: Uint8Array): Identity;
  /** Opens a seed from `wrap()`; a wrong passphrase throws `decryption_failed`. */
  static unwrap(wrapped: Uint8Array, passphrase: string): Identity;
  readonly id: string;
  readonly fingerprint: string;
  readonly publicKey: Uint8Array;
  /** The seed wrapped under a passphrase (≥ 8 characters; Argon2id, 64 MiB by default). */
  wrap(passphrase: string, cost?: Cost): Uint8Array;
  /** The raw 32-byte seed: only for the owner's own backup. */
  exportSeed(): Uint8Array;
  /** Wipes the keys from wasm memory. */
  free(): void;
}

/** The Argon2id cost a wrapped seed asks for. */
export function wrappedSeedCost(wrapped: Uint8Array): Cost;

/** The SRS as `connect()` found it. */
export interface SrsInfo extends Party {
  /** Its HPKE encryption key (33 bytes). */
  encryptionKey: Uint8Array;
}

export interface ClientOptions {
  /** The relay's base URL (default: the page's origin). */
  baseUrl?: string;
  /** The SRS's base URL (default: `baseUrl`). */
  srsUrl?: string;
  /** Pin the SRS: `connect()` refuses any other fingerprint. */
  srsFingerprint?: string;
  /** A fetch implementation (default: `globalThis.fetch`). */
  fetch?: typeof globalThis.fetch;
}

/** A connection to a SeSPHR deployment (relay + SRS). */
export class Client {
  constructor(options?: ClientOptions);
  readonly baseUrl: string;
  readonly srsUrl: string;
  /** Set by `connect()`. */
  srs: SrsInfo | undefined;
  /** Fetches and checks the SRS identity; call before anything else. */
  connect(): Promise<SrsInfo>;
  /** Publishes an identity in the SRS directory (idempotent). */
  register(identity: Identity): Promise<void>;
  /** Looks a party up in the directory (the entry's self-signature is checked). */
  lookup(partyId: string): Promise<Party & { createdAt: number }>;
  /** Stores a blob under its SHA-256 id (a signed upload token is attached). */
  putBlob(identity: Identity, id: string, length: number, body: Uint8Array | Blob): Promise<void>;
  /** A blob, or a `[offset, length]` range of it. */
  getBlob(id: string, range?: [number, number], signal?: AbortSignal): Promise<Response>;
}

/** Progress callback: bytes done of bytes in all. */
export type Progress = (done: number, total: number) => void;

/** An attachment as stored in a section's document. */
export interface Attachment {
  name: string;
  type: string;
  size: number;
  /** Offset of its first byte in the section body. */
  offset: number;
}

/** A section's document: what the owner wrote. */
export interface SectionDocument {
  name: string;
  fields: Record<string, string>;
  text: string;
  /** FHIR resources (JSON objects) imported into this section. */
  fhir: Array<Record<string, unknown>>;
  attachments: Attachment[];
}

/** A file to attach: a Blob/File, or bytes with a name. */
export type FileInput = Blob | { name: string; type?: string; bytes: Uint8Array };

/** One section to write. */
export interface SectionUpdate {
  name: string;
  fields?: Record<string, string>;
  text?: string;
  fhir?: Array<Record<string, unknown>>;
  files?: FileInput[];
  /** Indices of the current version's attachments to carry over. */
  keep?: number[];
}

/** An opened section: its document and its attachments, streamed. */
export class OpenSection {
  private constructor();
  readonly document: SectionDocument;
  /** The record version it was read at. */
  readonly version: number;
  readonly name: string;
  /** Attachment `i`'s plaintext, decrypted chunk by chunk as it streams in. */
  attachment(i: number, options?: { onProgress?: Progress; signal?: AbortSignal }): AsyncGenerator<Uint8Array, void, void>;
  /** Attachment `i` as a Blob. */
  attachmentBlob(i: number, options?: { onProgress?: Progress; signal?: AbortSignal }): Promise<Blob>;
  /** Wipes the section's data key. */
  close(): void;
}

/** A manifest entry (what the owner signed for one section body). */
export interface ManifestEntry {
  sectionId: string;
  epochId: string;
  sectionKey: Uint8Array;
  capsule: Uint8Array;
  writtenAtVersion: number;
  chunkRoot: string;
  blobLength: number;
  blobId: string;
  indexId: string;
}

/** A grant statement, verified. */
export interface Grant {
  grantId: string;
  sequence: number;
  owner: Party;
  recordId: string;
  sectionId: string;
  epochId: string;
  grantee: Party;
  role: Role;
  /** First readable version (0: all history). */
  fromVersion: number;
  expiresAt: number | undefined;
}

/** A grant as the owner sees it. */
export interface OwnerGrant extends Grant {
  statement: Uint8Array;
  sectionName: string;
}

/** A row of the record's audit log. */
export interface AuditRow {
  index: number;
  timestamp: number;
  grantId: string;
  granteeId: string;
  recordId: string;
  sectionId: string;
  sectionName: string;
  version: number;
  /** `allowed`, or the refusal (`revoked`, `expired`, `unknown_grant`, …). */
  decision: string;
}

export interface ShareOptions {
  /** A party from `lookup`, or a party id to look up. */
  grantee: Party | string;
  /** Section names (default: the role's preset). */
  sections?: string[];
  role?: Role;
  /** `all` (default): every version; `fromNow`: only versions written from now on. */
  history?: "all" | "fromNow";
  /** Expiry, ms since the Unix epoch (SRS clock). */
  expiresAt?: number;
}

/** A patient: the owner of records. */
export class Patient {
  constructor(client: Client, identity: Identity);
  readonly client: Client;
  readonly identity: Identity;
  /** Every record this identity owns, rebuilt from the servers. */
  records(): Promise<PatientRecord[]>;
  /** The `index`-th record, or undefined. */
  openRecord(index: number): Promise<PatientRecord | undefined>;
  /** Creates the next record (empty version 1). */
  createRecord(): Promise<PatientRecord>;
}

/** One of the patient's records. */
export class PatientRecord {
  private constructor();
  readonly recordId: string;
  readonly index: number;
  /** The latest published version. */
  readonly version: number;
  /** The opaque id of a section name. */
  sectionId(name: string): string;
  /** Sections with a body. */
  sections(): Array<{
    name: string;
    sectionId: string;
    epochId: string | undefined;
    entry: ManifestEntry;
    pendingRotation: "revoked" | "expired" | "fromNowGrant" | "requested" | undefined;
  }>;
  /** Opens one of the owner's own sections. */
  open(name: string): Promise<OpenSection>;
  /** Encrypts and publishes sections as the next version; returns it. */
  write(updates: SectionUpdate[], options?: { onProgress?: Progress }): Promise<number>;
  /** Shares sections; returns the new grant ids. */
  share(options: ShareOptions): Promise<string[]>;
  /** Every grant the SRS holds for this record, with `revoked`. */
  grants(): Promise<Array<OwnerGrant & { revoked: boolean }>>;
  /** The live grants (what `revoke` can act on). */
  liveGrants(): OwnerGrant[];
  /** Revokes grants; resolves once the SRS's signed receipts verify. */
  revoke(grantIds: string | string[]): Promise<void>;
  /** Revokes every live grant of a party; returns their ids. */
  revokeParty(partyId: string): Promise<string[]>;
  /** Rotates a section's key at its next write. */
  rotate(name: string): void;
  /** The record's audit log. */
  audit(): Promise<AuditRow[]>;
  /** Frees the wasm state. */
  free(): void;
}

/** A section shared with a reader. */
export interface SharedSection {
  recordId: string;
  owner: Party;
  sectionId: string;
  role: Role;
  fromVersion: number;
  expiresAt: number | undefined;
  /** The section's grants, oldest first (rotations re-issue them). */
  grants: Array<Grant & { statement: Uint8Array; b1Envelope: Uint8Array }>;
}

/** A record shared with a reader. */
export interface SharedRecord {
  recordId: string;
  owner: Party;
  sections: SharedSection[];
}

/** A reader: someone records were shared with. */
export class Reader {
  /** `highWater`: record id → highest version seen (persist it to refuse rollbacks). */
  constructor(client: Client, identity: Identity, options?: { highWater?: Map<string, number> });
  readonly highWater: Map<string, number>;
  /** What was shared with this reader. */
  sharedWithMe(): Promise<SharedRecord[]>;
  /** Opens a shared section at the latest version (throws `revoked`, `expired`, …). */
  open(section: SharedSection): Promise<OpenSection>;
}
