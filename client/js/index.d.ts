// Types of the SeSPHR client's public API (index.js).

/**
 * Every failure, whether from the wasm core, a server or the network: a
 * stable machine-readable `code`, and the HTTP `status` when a server refused.
 */
export class SesphrError extends Error {
  constructor(code: string, message: string, options?: { status?: number; cause?: unknown });
  readonly name: "SesphrError";
  /**
   * e.g. `revoked`, `expired`, `bad_signature`, `decryption_failed`, `stale`,
   * `version_conflict`, `network`, `invalid_argument`, `aborted` (a write or
   * download cancelled through its AbortSignal), `pruned` (the body or
   * attachment of a version the owner pruned: the relay no longer has it),
   * `content_mismatch` / `wrong_kind` (a blob that is not the one the
   * signed manifest or section document names), `audit_fork` (the SRS's
   * audit log does not extend the one it showed before; `keptHead` and
   * `servedHead` are the evidence), `audit_incomplete` (an audit listing
   * leaves out entries an earlier verified one showed).
   */
  readonly code: string;
  /** The HTTP status of a server refusal. */
  readonly status: number | undefined;
  /** For `stale`: the version (or time) found, older than `known`. */
  readonly found?: number;
  /** For `stale`: the version (or time) known to be newer. */
  readonly known?: number;
  /**
   * For `audit_fork`, the evidence: the audit tree head this client verified
   * before and the one served now, both signed by the pinned SRS (kind
   * `0x0f`, 118 bytes each), which no append-only log can both have signed.
   */
  readonly keptHead?: Uint8Array;
  readonly servedHead?: Uint8Array;
  /** For `audit_incomplete`: entries below the earlier listing's tree size now, against `known` then. */
  readonly listed?: number;
  /** For `srs_mismatch`: the fingerprint the server showed. */
  readonly served?: string;
  /** For `srs_mismatch`: the pinned fingerprint it was compared with. */
  readonly pinned?: string;
}

/** Whether the same request may succeed if sent again: `network`, a 5xx or a 429. */
export function isTransient(e: unknown): boolean;

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

export type Role = "custom" | "family" | "physician" | "nurse" | "pharmacist" | "insurer" | "researcher" | "lab" | "emergency";

/** The emergency preset: allergies, medications, history, demographics (also `roleSections("emergency")`). */
export function emergencySections(): string[];

/**
 * Where an emergency grant stands on the SRS's clock: `dormant` (never
 * activated), `waiting` (activated; opens at `opensAt` unless the owner
 * denies), `open` (the wait passed, or the owner approved), `denied`.
 */
export type EmergencyStateName = "dormant" | "waiting" | "open" | "denied" | "revoked" | "expired" | "unknown";

/**
 * The code every emergency call throws when the SRS's answer does not
 * verify: no signed view or receipt, another SRS key, a view for another
 * request (a replay) or party, an inconsistent or rewritten one, an opening
 * earlier than the activation's signed time allows, a listing that leaves
 * out a live emergency grant, or a receipt of another decision.
 */
export const EMERGENCY_VIEW_UNVERIFIED: "emergency_view_unverified";

/** One emergency grant's state (times in ms on the SRS's clock), from the SRS-signed view. */
export interface EmergencyState {
  grantId: string;
  state: EmergencyStateName;
  /** The owner-signed wait, ms. */
  waitMs: number;
  activatedAt: number | undefined;
  opensAt: number | undefined;
  /** Until access opens (`waiting`), ms; else 0. */
  remainingMs: number;
  /** When the grantee asked: the time they signed into the activation (their clock, ms). */
  askedAt?: number;
  /** The grant's latest owner decision (hash, hex): what the next activation follows. */
  lastDecision?: string;
  /** The owner approved (`open`). */
  approved: boolean;
  /** The SRS's clock when it answered (undefined when it refused this grant). */
  now: number | undefined;
  /**
   * Grantee side: the SRS's refusal code when this one grant is revoked,
   * expired or unknown (`state` says which); the others are still activated.
   */
  error?: "revoked" | "expired" | "not_found";
}

/** An emergency grant as the owner lists it: the state, who, which section, and the activation (verified). */
export interface EmergencyActivationRow extends EmergencyState {
  grantee: Party;
  sectionId: string;
  sectionName: string;
  /** Activated and waiting: the owner's to approve or deny. */
  pending: boolean;
  /** The grantee-signed activation (hex), verified against the grant. */
  activation: string | null;
}

/** An access request as its owner sees it (verified: signed by `requester`, addressed to this patient). */
export interface AccessRequest {
  /** The request's hash (what a refusal names). */
  id: string;
  /** The mail it came in (deleted once answered). */
  mailId: string;
  /** The sealed mail, hex (declining opens it again). */
  sealed: string;
  requester: Party;
  /** The record asked about, or null (the owner's choice). */
  recordId: string | null;
  role: Role;
  sections: string[];
  reason: string;
  createdAt: number;
  expiresAt: number;
}

/** A refusal of one of this party's requests, verified. */
export interface AccessRefusal {
  requestId: string;
  owner: Party;
  timestamp: number;
}

/** Which emergency grants a decision is about: all of a party's, or some by id. */
export type EmergencySelection = { partyId: string } | { grantIds: string[] };

/** The SRS's signed receipt of an emergency decision, verified against the decision sent. */
export interface EmergencyReceipt {
  grantId: string;
  /** The decision's hash, hex. */
  decision: string;
  verdict: "approve" | "deny";
  state: "open" | "denied";
  /** SRS clock when it took it, ms. */
  at: number;
}

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
  /**
   * Base URLs of independent relays (all with this deployment's SRS) over
   * which section bodies are erasure-coded; manifests and grants then go to
   * every relay, and reads fall back to them when `baseUrl` fails. When
   * left out, `connect()` reads the deployment's `GET /v1/config` and
   * shards over the relays it names (a failure to read it fails
   * `connect()`); `[]` keeps every body on `baseUrl`.
   */
  relays?: string[];
  /** The code over `relays`: `k` of `n` shards decode (default 2 of 3), `happy` relays must take a shard for a write to succeed (default `n`), `hedgeMs` before a spare relay is asked (default 250). */
  shards?: { k?: number; n?: number; happy?: number; hedgeMs?: number };
}

/** One relay's health as `RelaySet.health()` measures it. */
export interface RelayHealth {
  url: string;
  ok: boolean;
  /** Round trip of one small request, ms. */
  ms: number;
  /** The error's code when not ok (`network`, `http_503`, …). */
  code?: string;
}

/** What a relay did wrong: a failed upload or read, a forged index, a corrupted piece. */
export interface RelayFault {
  relay: string;
  code: string;
  message: string;
  at: number;
}

/**
 * The independent relays a Client shards section bodies over
 * (`client.relaySet`, when `relays` were given or the deployment names
 * some). No relay ever holds `k`
 * or more shards of a section; a write needs `happy` distinct relays.
 */
export class RelaySet {
  readonly k: number;
  readonly n: number;
  readonly happy: number;
  readonly urls: string[];
  /** What each relay did wrong, newest last (at most 64). */
  readonly faults: RelayFault[];
  /** One small request to each relay. */
  health(): Promise<RelayHealth[]>;
  /** The relay of each shard of a section: `n` distinct relay indexes. */
  plan(sectionId: string): number[];
}

/** A connection to a SeSPHR deployment (relay + SRS). */
export class Client {
  constructor(options?: ClientOptions);
  readonly baseUrl: string;
  readonly srsUrl: string;
  /** Set by `connect()`. */
  srs: SrsInfo | undefined;
  /** The sharded relays, when `relays` were given or (after `connect()`) the deployment names some. */
  readonly relaySet: RelaySet | undefined;
  /** Fetches and checks the SRS identity, and the first time the deployment's relays (unless `relays` were given); call before anything else. */
  connect(): Promise<SrsInfo>;
  /** Publishes an identity in the SRS directory (idempotent). */
  register(identity: Identity): Promise<void>;
  /** Looks a party up in the directory (the entry's self-signature is checked). */
  lookup(partyId: string): Promise<Party & { createdAt: number }>;
  /**
   * Stores a blob under its content address (a signed upload token is
   * attached); storing it again is harmless. `onSent(bytes)`: bytes of this
   * attempt handed to the network so far.
   */
  putBlob(
    identity: Identity,
    id: string,
    length: number,
    body: Uint8Array | Blob,
    options?: { onSent?: (bytes: number) => void; signal?: AbortSignal },
  ): Promise<void>;
  /** Deletes a blob this identity uploaded first; false if the relay did not have it. */
  deleteBlob(identity: Identity, id: string): Promise<boolean>;
  /** A blob, or a `[offset, length]` range of it. */
  getBlob(id: string, range?: [number, number], signal?: AbortSignal): Promise<Response>;
}

/** Progress callback: bytes done of bytes in all. */
export type Progress = (done: number, total: number) => void;

/** An attachment as a section's document lists it (its file key stays inside the package). */
export interface Attachment {
  name: string;
  type: string;
  /** Plaintext size in bytes. */
  size: number;
  /** Format 2: its chunk root, which is also its blob's address at the relay. */
  root?: string;
  /** Format 2: its chunk index's address at the relay. */
  index?: string;
  /** Format 2: its blob's length in bytes. */
  length?: number;
  /** Format 1 (older bodies): offset of its first byte in the section body. */
  offset?: number;
}

/** A section's document: what the owner wrote. */
export interface SectionDocument {
  /** 2: attachments are their own blobs (what this package writes); 1: inline in the body (older). */
  format: 1 | 2;
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
  /** Indices of the current version's attachments to carry over (referenced as they are: nothing re-encrypted or uploaded). */
  keep?: number[];
}

/** Options of `write` and `restore`. */
export interface WriteOptions {
  /**
   * Bytes encrypted plus bytes handed to the network, of all in `total`
   * (each stored byte counts twice; `total` may grow by a few hundred bytes
   * as each section document is sealed).
   */
  onProgress?: Progress;
  /** Cancels until the manifest is sent: nothing published, uploads deleted, `aborted` thrown. */
  signal?: AbortSignal;
}

/** What `prune` deleted: blob and chunk index ids. */
export interface PruneResult {
  deleted: string[];
  /** How many objects the kept versions still reference. */
  kept: number;
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
  /** A sharded body's sealed placement (opened with the version's data key); absent for a body stored whole. */
  placement?: Uint8Array;
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
  /** An emergency grant's wait, ms (`null`: an ordinary grant). */
  emergencyWaitMs: number | null;
  /** The statement's hash: the relay's id of the inbox item carrying it. */
  itemId: string;
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
  /** The hash of the request decided on (64 hex characters). */
  request: string;
  /** `allowed`, or the refusal (`revoked`, `expired`, `emergency_waiting`, `not_in_manifest`, …). */
  decision: string;
  /** `BTG` for a decision on an emergency grant (HL7 PurposeOfUse, break the glass), else `ordinary`. */
  purpose: "ordinary" | "BTG";
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
  /**
   * An emergency grant with this wait (1 s to 90 days): dormant until the
   * grantee activates it and the wait passes, or the owner approves. Use
   * role `emergency` for the emergency preset.
   */
  emergencyWaitMs?: number;
}

/** What `write` did: the version the relay stored, and whether the SRS witnessed it yet. */
export interface WriteResult {
  version: number;
  /** False while the SRS has not confirmed the version (`pendingWitness`); `reconcile()` retries. */
  witnessed: boolean;
}

/** High-water marks: record id → highest version seen witnessed. Persist it to refuse rollbacks. */
export type HighWater = Map<string, number>;

/**
 * Where a Patient keeps its audit state: `auditHeads` maps a party id to
 * the last audit tree head it verified, `auditMarks` a record id to what the
 * last verified listing of that record showed. Values are bytes (a store
 * may hand back their hex).
 */
export type AuditStore = Map<string, Uint8Array | string>;

/** A record's audit log, verified. */
export interface AuditListing {
  /** The record's entries, oldest first. */
  entries: AuditRow[];
  /** Always true: a listing that fails a check is thrown, never returned. */
  verified: true;
  /** The size of the SRS's whole log the entries were checked under. */
  treeSize: number;
  /** That signed tree head (kind `0x0f`, 118 bytes), the one now kept. */
  head: Uint8Array;
  /** Receipts readers forwarded (read from the mail before the listing), each found in it; then cleared. */
  receipts: number;
}

/** A patient: the owner of records. */
export class Patient {
  constructor(
    client: Client,
    identity: Identity,
    options?: { highWater?: HighWater; auditHeads?: AuditStore; auditMarks?: AuditStore },
  );
  readonly client: Client;
  readonly identity: Identity;
  readonly highWater: HighWater;
  readonly auditHeads: AuditStore;
  readonly auditMarks: AuditStore;
  /** Every record this identity owns, rebuilt from the servers and checked against the SRS's heads. */
  records(): Promise<PatientRecord[]>;
  /** The `index`-th record, or undefined; a relay behind the SRS's head throws `stale`. */
  openRecord(index: number): Promise<PatientRecord | undefined>;
  /** Creates the next record (empty version 1). */
  createRecord(): Promise<PatientRecord>;
  /**
   * Pending access requests, oldest first (verified; expired ones, repeats
   * and more than three per requester or twenty in all, or dated ahead of this clock, are deleted from the mailbox).
   */
  accessRequests(): Promise<AccessRequest[]>;
  /**
   * Approves a request on `record` with ordinary grants of `sections`
   * (default: all it asked; more is `invalid_argument`; an expired request
   * is `expired`); the grants carry the asked role only when exactly its
   * preset is approved, else `custom`. Returns the grant ids.
   */
  approveRequest(record: PatientRecord, request: AccessRequest, options?: { sections?: string[] }): Promise<string[]>;
  /** Declines a request: a signed refusal is mailed to the requester. */
  declineRequest(request: AccessRequest): Promise<void>;
}

/** One of the patient's records. */
export class PatientRecord {
  private constructor();
  readonly recordId: string;
  readonly index: number;
  /** The latest published version. */
  readonly version: number;
  /** The highest version the SRS has witnessed. */
  readonly witnessedVersion: number;
  /** Whether a published version waits for the SRS to witness it. */
  readonly pendingWitness: boolean;
  /** The published versions the SRS has not witnessed yet. */
  readonly unwitnessed: number[];
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
  /** The versions at which a section's body changed, oldest first. */
  history(name: string): Array<{ version: number; entry: ManifestEntry }>;
  /** Opens one of the owner's own sections, at the latest version or an older `version`. */
  open(name: string, options?: { version?: number }): Promise<OpenSection>;
  /**
   * Encrypts and publishes sections as the next version. Throws
   * `version_conflict` if another tab or device wrote first (the record is
   * reloaded: write again).
   */
  write(updates: SectionUpdate[], options?: WriteOptions): Promise<WriteResult>;
  /**
   * Writes section `name` as it was at record `version` (fields, text, FHIR,
   * attachments) as the next version, referencing its attachment blobs
   * without downloading them. A pruned version throws `pruned`.
   */
  restore(name: string, version: number, options?: WriteOptions): Promise<WriteResult>;
  /**
   * Deletes the section bodies and attachment blobs that only versions
   * before `before` reference (manifests stay). Those versions then open as
   * `pruned`, for the owner and for every reader (also grants of all
   * history). `before` must be 1..version (`invalid_argument`).
   */
  prune(options: { before: number }): Promise<PruneResult>;
  /**
   * Restores the shards of every sharded section of the latest version
   * after a relay lost data or left (decoded from any k, coded again,
   * checked against the signed roots, stored on relays holding none of that
   * section).
   */
  repairShards(options?: { signal?: AbortSignal }): Promise<{ name: string; missing: number[]; repaired: { shard: number; relay: string }[] }[]>;
  /** Pushes unwitnessed versions to the SRS; true once all are witnessed (throws the failure otherwise). */
  reconcile(): Promise<boolean>;
  /** Rebuilds the record from the servers (after another tab or device wrote). */
  refresh(): Promise<void>;
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
  /** Every live emergency grant of this record with its state; activations verified against their grants. */
  emergencyActivations(): Promise<EmergencyActivationRow[]>;
  /** Approves the chosen pending activations: access opens now. Throws `not_activated` if none waits. */
  approveEmergency(which: EmergencySelection): Promise<Array<EmergencyState & { grantee: Party; sectionId: string; receipt: EmergencyReceipt }>>;
  /** Denies the chosen activations (waiting or open): closed until a new activation and its wait. */
  denyEmergency(which: EmergencySelection): Promise<Array<EmergencyState & { grantee: Party; sectionId: string; receipt: EmergencyReceipt }>>;
  /** Rotates a section's key at its next write. */
  rotate(name: string): void;
  /**
   * The record's audit log, verified: the SRS's signed tree head extends the
   * last one this patient verified (a consistency proof), every entry is in
   * it (an audit path each), the entries are the record's whole chain from
   * its first, every receipt a reader forwarded is among them, and every
   * entry the last verified listing showed is still listed; the head this
   * owner's manifests recorded is checked against the kept one first.
   * Throws `audit_fork`, `stale`, `bad_proof`, `binding_mismatch`,
   * `chain_broken` or `audit_incomplete` otherwise.
   */
  audit(): Promise<AuditListing>;
  /**
   * Creates a SMART Health Link to a **copy** of `sections`: decrypted here,
   * turned into one FHIR R4 Bundle (`toBundle`), encrypted as a compact JWE
   * (`dir`, `A256GCM`) under a fresh link key, stored at the relay. `url`
   * is the `shlink:/…` string that holds the key: share it out of band,
   * never send it to a server. Throws `bad_link`/`bad_jwe` (relay),
   * `invalid_argument`.
   */
  createLink(options: CreateLinkOptions): Promise<{ url: string; id: string }>;
  /** This identity's links with their retrievals. */
  links(): Promise<LinkListing[]>;
  /** Revokes a link: its next retrieval is `404`; a copy already taken stays taken. */
  revokeLink(id: string): Promise<void>;
  /** A listed link's `shlink:/…` again, from its key kept for the owner (`decryption_failed` if the relay altered it, `no_link_key` if none). */
  linkUrl(link: LinkListing): string;
  /** Which record (hex id) and sections a listed link covers. */
  linkSections(link: LinkListing): { record: string; sections: string[] };
  /** The terms sealed with a listed link's kept key (the relay cannot change them; `exp` in ms). */
  linkTerms(link: LinkListing): { record: string; sections: string[]; longTerm: boolean; passcode: boolean; exp?: number; label?: string; direct: boolean; card: boolean };
  /** The `shlink:/…` of this record's live emergency card link over exactly `sections` (made with `card: true`), or undefined. */
  cardLink(sections: string[]): Promise<string | undefined>;
  /**
   * Re-exports this record's live (long-term) links that cover any of
   * `names` (all if omitted) under their own keys; call after a write.
   */
  refreshLinks(names?: string[]): Promise<{ refreshed: string[]; failed: Array<{ id: string; error: Error }> }>;
  /**
   * Frees the wasm state once the operations already started have ended
   * (writes, shares, revokes, refreshes and reconciles run one at a time);
   * later ones are `invalid_state`.
   */
  free(): Promise<void>;
}

/** A section shared with a reader. */
export interface SharedSection {
  recordId: string;
  owner: Party;
  sectionId: string;
  role: Role;
  fromVersion: number;
  expiresAt: number | undefined;
  /** The wait of an emergency grant, ms (undefined: ordinary). */
  emergencyWaitMs: number | undefined;
  /** The owner's grants of this section to the reader, newest first (rotations re-issue them). */
  grants: Grant[];
  /** The record it belongs to. */
  record: SharedRecord;
}

/** A record shared with a reader: only what its owner signed. */
export class SharedRecord {
  private constructor();
  readonly recordId: string;
  /** The owner: the party the record id is bound to. */
  readonly owner: Party;
  /** The name the owner gave themself (a signed name card sealed to this reader), if any. */
  ownerName?: string;
  readonly sections: SharedSection[];
  /** Ids of inbox items naming this record signed by someone else: never used. */
  foreign: string[];
  /** A section's bodies, oldest first, up to the version the SRS witnessed. */
  history(section: SharedSection | string): Promise<Array<{ version: number; readable: boolean }>>;
  /** Deletes the `foreign` items from the inbox; returns the ids deleted. */
  clearForeign(): Promise<string[]>;
  /** Frees the wasm state. */
  free(): void;
}

/** A reader: someone records were shared with. */
export class Reader {
  /** `highWater`: record id → highest version seen (persist it to refuse rollbacks). */
  constructor(client: Client, identity: Identity, options?: { highWater?: HighWater });
  readonly highWater: HighWater;
  /** What was shared with this reader, by record owner. */
  sharedWithMe(): Promise<SharedRecord[]>;
  /**
   * Opens a shared section at the version the SRS witnessed last, or an
   * older `version` (throws `revoked`, `expired`, `stale`, …).
   */
  open(section: SharedSection, options?: { version?: number }): Promise<OpenSection>;
  /**
   * Asks a record's owner for sections with a reason (signed, sealed to the
   * owner as mail, expiring: `ttlMs` default 7 days, at most 30).
   */
  requestAccess(options: { owner: string | Party; sections: string[]; reason?: string; recordId?: string; role?: Role; ttlMs?: number }): Promise<{ id: string; ownerId: string; sections: string[]; expiresAt: number }>;
  /** Refusals of this party's requests (verified), deleted once read. */
  accessReplies(): Promise<AccessRefusal[]>;
  /** The state of each emergency grant of a shared record. */
  emergencyStatus(shared: SharedRecord): Promise<Array<EmergencyState & { sectionId: string }>>;
  /**
   * Activates the record's emergency grants that are dormant or denied (a
   * signed activation each: the wait starts, the owner is told); returns
   * every emergency grant's state. A revoked, expired or unknown grant is
   * that grant's state (`error`) and does not stop the others. Throws
   * `invalid_state` if none is shared, `revoked`/`expired`/`unknown_grant`
   * when none can be activated, `replay`, `already_activated`.
   */
  activateEmergency(shared: SharedRecord): Promise<Array<EmergencyState & { sectionId: string }>>;
  /**
   * Forwards the audit receipts of the answers this reader got so far,
   * sealed to each record's owner (done by itself after every read, in the
   * background); resolves once they were handed to the relay. Receipts that
   * could not be sent stay queued, and it throws the first error.
   */
  flushReceipts(): Promise<void>;
}

/** A person in a party's address book: the name this party gave them (kept on this device only). */
export interface Contact {
  id: string;
  name: string;
  fingerprint: string;
  addedAt: number;
  /** Set once the safety number was compared with the person (`verify`). */
  verified?: boolean;
  verifiedAt?: number;
}

/** How every view names a party: `text` is "Name (ABCD-EFGH)" or "ABCD-… (not in your contacts)". */
export interface PartyLabel {
  id: string;
  name?: string;
  fingerprint?: string;
  text: string;
}

/** The people a party shares with or reads from, by name, in a Web Storage (localStorage). */
export class Contacts {
  /** With an Identity, the book lives encrypted at the relay (slot `contacts`), `storage` being its cache. */
  constructor(client: Client, owner: Identity | string, storage?: Storage, options?: { state?: OwnerState });
  /** Loads the book from the relay (uploading one that exists only in `storage`). */
  sync(): Promise<Contact[]>;
  /** The name this party gives itself (what the people it shares with see). */
  readonly myName: string | undefined;
  setMyName(name: string): Promise<string>;
  /** Marks a contact verified (its safety number was compared). */
  verify(id: string, verified?: boolean): Promise<Contact>;
  /** The safety number of this party and `id`. */
  safetyNumber(id: string): Promise<string>;
  /** Every contact, sorted by name. */
  list(): Contact[];
  get(id: string): Contact | undefined;
  /** Looks `party` up in the directory (verified) and names it; throws `invalid_argument` for an empty, long or taken name. */
  add(party: string | Party, name: string): Promise<Contact>;
  rename(id: string, name: string): Promise<Contact>;
  remove(id: string): Promise<void>;
  /** A verified directory lookup, cached for the session. */
  lookup(id: string): Promise<Party>;
  /** Remembers a party verified elsewhere, for `label`. */
  remember(party: Party): void;
  label(party: string | Party): PartyLabel;
  /** `label`, looking the party up first if its fingerprint is unknown. */
  describe(party: string | Party): Promise<PartyLabel>;
  /** Called on every change, in this tab or another of the same browser. */
  onChange(f: () => void): void;
}

// ------------------------------------------------------------------ invitations (invitations.js)

/**
 * A party's owner-private state at the relay: JSON per slot, encrypted under its seed, versioned by compare-and-swap.
 * The highest version seen per slot is kept in `storage` (default `localStorage` where there is one), so an older
 * version or a 404 after a reload is `stale` too.
 */
export class OwnerState {
  constructor(client: Client, identity: Identity, storage?: Pick<Storage, "getItem" | "setItem">);
  load(slot: string): Promise<{ version: number; value: unknown }>;
  /** Applies `change` to the current value and stores the next version, again on `version_conflict`. */
  update<T>(slot: string, change: (value: T | undefined) => T | undefined | Promise<T | undefined>): Promise<{ version: number; value: T }>;
}

export interface InvitationInfo {
  id: string;
  owner: Party;
  ownerName: string;
  role: string;
  sections: string[];
  expiresAt: number;
  expired: boolean;
}

export interface PendingAcceptance {
  mailId: string;
  invitationId: string;
  invitee: Party;
  name: string;
  acceptedAt: number;
  recordId: string;
  role: string;
  sections: string[];
  ownerName: string;
  expiresAt: number;
  /** A confirmation left half done (marked used, not all granted): confirm again to finish it. */
  resume?: true;
}

export interface InvitationListing {
  id: string;
  recordId: string;
  role: string;
  sections: string[];
  ownerName: string;
  expiresAt: number;
  createdAt: number;
  status: "open" | "used" | "cancelled" | "expired";
  acceptedBy?: string;
}

/** The patient's invitations (kept encrypted at the relay, slot `invitations`). */
export class Invitations {
  /** `leaseMs`: the confirmation lease (default 60 s; renewed every third of it while a confirmation runs). */
  constructor(patient: Patient, state?: OwnerState, options?: { leaseMs?: number });
  invite(record: PatientRecord, options: { sections?: string[]; role?: string; expiresAt?: number; ownerName: string; portalUrl?: string }): Promise<{ id: string; url: string; expiresAt: number; role: string; sections: string[] }>;
  list(): Promise<InvitationListing[]>;
  cancel(id: string): Promise<void>;
  /** Acceptances in the mail, verified; refused ones (`invitation_unknown`, `invitation_expired`, `invitation_used`, `invitation_invalid`) are deleted. */
  acceptances(): Promise<{ pending: PendingAcceptance[]; refused: Array<{ mailId: string; code: string; message: string }> }>;
  /** Marks the invitation used (compare-and-swap), then `issueAccess`; returns the grant ids. */
  confirm(record: PatientRecord, pending: PendingAcceptance, options?: { contactName?: string; contacts?: Contacts }): Promise<string[]>;
  decline(pending: PendingAcceptance): Promise<void>;
}

/** What an invitation link offers (its owner's signature verified). */
export function readInvitation(link: string): InvitationInfo;
/** The invitee's side: posts its acceptance to the owner's mail. `invitation_expired` past the expiry. */
export function acceptInvitation(client: Client, identity: Identity, link: string, options?: { name?: string }): Promise<InvitationInfo>;
/** Grants sections to a verified party, sends it `ownerName`, names it in `contacts`: what confirming an invitation or approving an access request does. */
export function issueAccess(
  record: PatientRecord,
  options: { grantee: Party; sections?: string[]; role?: string; history?: "all" | "fromNow"; expiresAt?: number; ownerName?: string; contactName?: string; contacts?: Contacts },
): Promise<string[]>;
/** Sends `grantee` the name the patient gives themself (a signed name card in its mail). */
export function sendName(patient: Patient | { client: Client; identity: Identity }, grantee: Party, name: string): Promise<void>;
/** A reader's view of owners' names: owner id → `{name, issuedAt, fingerprint}`. */
/** `owners`: ids of the owners whose grants the reader holds; every other card (and junk) is deleted. */
export function ownerNames(reader: Reader | { client: Client; identity: Identity }, owners?: Set<string>): Promise<Map<string, { name: string; issuedAt: number; fingerprint: string }>>;
export interface PersonShares {
  grantee: { id: string; fingerprint: string };
  name?: string;
  role: string;
  sections: Array<{ name: string; grantIds: string[] }>;
  grantIds: string[];
}
/** A record's live grants, one row per grantee. */
export function sharesByPerson(record: PatientRecord, contacts?: Contacts): PersonShares[];
/** The safety number of two parties (the same on both sides). */
export function safetyNumber(a: { publicKey: Uint8Array } | Uint8Array, b: { publicKey: Uint8Array } | Uint8Array): string;

// ------------------------------------------------------------------ FHIR (fhir.js)

/** A FHIR R4 resource as JSON. */
export type FhirResource = { resourceType: string; id?: string; [key: string]: unknown };

/** A FHIR R4 Bundle as JSON. */
export interface FhirBundle {
  resourceType: "Bundle";
  id?: string;
  identifier?: { system: string; value: string };
  type: string;
  timestamp?: string;
  entry: Array<{ fullUrl: string; resource: FhirResource }>;
}

/** What `planImport` is told about the record. */
export interface ImportOptions {
  /** Section name → the FHIR resources it holds now (a `Map` or an object). */
  sections?: Map<string, FhirResource[]> | Record<string, FhirResource[]>;
  /** The record's Patient (the first Patient of its demographics), to tell whose resources these are. */
  patient?: FhirResource;
  /** Also import resources about other patients: all (`true`) or those of the `otherPatients[].key`s listed. */
  importOthers?: boolean | string[];
}

/** One section an import writes. */
export interface PlannedSection {
  name: string;
  /** The section's whole FHIR array after the import: write this as its `fhir`. */
  fhir: FhirResource[];
  /** Resources new to the record. */
  added: FhirResource[];
  /** Same resource (type and id, or identifier), new content: `after` replaces `before` where it was. */
  replaced: Array<{ before: FhirResource; after: FhirResource }>;
  /** Whether the record has this section already (was given in `sections`). */
  existing: boolean;
}

/** A resource an import skips. */
export interface SkippedResource {
  resource: FhirResource;
  section: string;
  /** `already_in_record`, `older_than_record`, `repeated_in_bundle` or `older_in_bundle`. */
  reason: "already_in_record" | "older_than_record" | "repeated_in_bundle" | "older_in_bundle";
  /** The resource in words. */
  label: string;
}

/** Resources of the file about someone other than the record's patient. */
export interface OtherPatient {
  /** Pass in `importOthers` to import them. */
  key: string;
  /** Their name as the file gives it, or words saying it does not. */
  name: string;
  count: number;
  /** Resource type → count. */
  types: Record<string, number>;
  /** Whether they are in the plan's sections (only when asked through `importOthers`). */
  imported: boolean;
  resources: FhirResource[];
}

/** What an import would do; nothing is written until the caller writes `sections`. */
export interface ImportPlan {
  bundle: { id?: string; type?: string; resources: number; nested: number };
  /** Whose record the file was read for: the record's patient, or (none yet) the person the file is about. */
  patient?: {
    key?: string;
    name?: string;
    resource?: FhirResource;
    from: "record" | "bundle";
    /** How the file's patient was matched with the record's: `identifier`, `id`, `name and birth date` or `reference`. */
    matchedBy?: string;
    /** The file names several people and the record has no patient yet: the first one was chosen. */
    guessed: boolean;
  };
  sections: PlannedSection[];
  duplicates: SkippedResource[];
  otherPatients: OtherPatient[];
  /** Nothing to write. */
  empty: boolean;
  /** The plan in plain sentences. */
  summary: string[];
}

/**
 * Plans importing a FHIR R4 Bundle (JSON text, bytes or parsed) into a
 * record: throws `SesphrError` `bad_bundle` (nothing imported) for anything
 * that is not a bundle.
 */
export function planImport(bundle: string | Uint8Array | object, options?: ImportOptions): ImportPlan;

/** The standard section a resource goes to (`notes` for any type without one). */
export function sectionOf(resource: FhirResource): string;
/** A resource in one line of words. */
export function describe(resource: FhirResource): string;
/** A section document without the bookkeeping fields and summary lines earlier imports wrote. */
export function withoutImportBookkeeping<D extends Partial<SectionDocument>>(doc: D): D;

/** Options of the exports. */
export interface ExportOptions {
  /** The patient (default: the first Patient of the documents' demographics). */
  patient?: FhirResource;
  /** The time of the export (default: now). */
  now?: Date | number | string;
  /** Makes the UUIDs of fullUrls and identifiers (default: random v4). */
  uuid?: () => string;
}

/**
 * A FHIR R4 `collection` Bundle of section documents: imported resources as
 * they are, fields and text as a DocumentReference per section, attachments
 * as DocumentReferences without their content; every entry a `urn:uuid:` fullUrl.
 */
/** Options of `PatientRecord.createLink`. */
export interface CreateLinkOptions {
  /** Section names to copy (at least one). */
  sections: string[];
  /** A passcode the retriever must send (the link's flag `P`). */
  passcode?: string;
  /** Wrong passcodes tolerated over the link's life (1–100, default 10). */
  maxAttempts?: number;
  /** Expiry, ms since the Unix epoch (in the future). */
  expiresAt?: number;
  /** At most 80 characters, shown to the retriever. */
  label?: string;
  /** The flag `L` (the relay answers `status: "can-change"`). */
  longTerm?: boolean;
  /** The flag `U`: a viewer GETs the one file itself (`?recipient=`); no passcode. */
  directFile?: boolean;
  /** Marks the link (sealed in its kept note) as the emergency card, for `cardLink`. */
  card?: boolean;
}

/** One of the owner's links, as the relay lists it. */
export interface LinkListing {
  id: string;
  label?: string | null;
  expiresAt?: number | null;
  longTerm: boolean;
  passcode: boolean;
  attemptsLeft: number;
  created: number;
  files: number;
  /** Whether it is a direct-file (`U`) link (the only kind `GET ?recipient=` serves). */
  direct: boolean;
  /**
   * Every distinct recipient string retrievers sent (the first 1000 per
   * link), in the order they first came: how many retrievals, the first and
   * the latest (ms). A flood of one name only raises its count.
   */
  retrievals: Array<{ recipient: string; count: number; first: number; last: number }>;
  /** Retrievals by names past the first 1000, counted together. */
  otherRecipients?: { count: number; first: number; last: number };
  /** The link key sealed for the owner (base64url; opaque to the relay). */
  ownerKey?: string;
}

/** What a link says about itself, without its key (`exp` in seconds). */
export function decodeLink(shlink: string): { url: string; flag: string; label?: string; exp?: number };

/** One decrypted file of a SMART Health Link. */
export interface LinkFile {
  contentType: string;
  /** Parsed JSON for JSON content types (a FHIR Bundle), else the bytes (inflated, for a `zip: "DEF"` file). */
  content: unknown;
}

/**
 * Opens a SMART Health Link (`shlink:/…`, or a viewer URL with one in its
 * fragment) as a viewer: the manifest request with `recipient` (and
 * `passcode`), every file fetched and decrypted. A wrong passcode throws
 * `wrong_passcode` with `remainingAttempts`; an expired, revoked or used-up
 * link `not_found`; a tampered file `decryption_failed`. A compressed
 * (`zip: "DEF"`) file is inflated, at most 64 MiB (`too_large` past it,
 * `malformed` if it does not inflate).
 */
export function openLink(
  shlink: string,
  options: { recipient: string; passcode?: string; fetch?: typeof fetch },
): Promise<LinkFile[]>;

export function toBundle(documents: Partial<SectionDocument> | Array<Partial<SectionDocument>>, options?: ExportOptions): FhirBundle;

/**
 * An International Patient Summary (HL7 IPS) `document` Bundle of the
 * record. `author` defaults to the patient. Throws `no_patient` if the
 * documents hold no Patient and none is given.
 */
export function toPatientSummary(
  documents: Array<Partial<SectionDocument>>,
  options?: ExportOptions & { author?: FhirResource },
): FhirBundle;
