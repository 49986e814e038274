//! The relay's storage behind a small trait, [`RelayStore`], so that an
//! S3-compatible object store can be added without touching the handlers.
//!
//! The default, [`LocalStore`], keeps blob bytes in a [`Blobs`] store
//! ([`super::blobs`]: files by default, or any `object_store` backend, S3
//! among them), created once and never overwritten. Everything small (manifests,
//! which record belongs to whom, who uploaded which blob and how much each
//! party stores, inbox items, spent token nonces, links, owner state) is in
//! one metadata database on [`crate::db`]: SQLite (`meta.sqlite3`, WAL,
//! `synchronous = FULL`) by default, or PostgreSQL, which several relay
//! processes share. Every decision that reads and then writes (compare-and-
//! swap on a manifest version, quotas, caps, nonces, the passcode attempt
//! gate) is one transaction, serializable on PostgreSQL, so it holds across
//! processes as it does within one.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use sesphr_client::primitives::{os_rng, random_bytes};

use super::blobs::{Blobs, FsBlobs};
use crate::db::{nonces, Db, DbError, DbLocation, Schema, Tx};

/// A storage failure (never caused by request content).
#[derive(Debug, thiserror::Error)]
#[error("relay store: {0}")]
pub struct StoreError(String);

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> StoreError {
        StoreError(e.to_string())
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError(e.to_string())
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> StoreError {
        StoreError(e.to_string())
    }
}

/// A boxed future of a store operation.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;
/// One stored mail as a page lists it: `(seq, id, JSON)`.
pub type MailRow = (u64, [u8; 32], Vec<u8>);
/// A stream of blob bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync>>;

/// A blob being written; invisible until `commit`.
pub trait BlobSink: Send {
    /// Appends bytes.
    fn write<'a>(&'a mut self, data: &'a [u8]) -> StoreFuture<'a, ()>;
    /// Makes the blob durable and visible; `false` if it already existed.
    fn commit(self: Box<Self>) -> StoreFuture<'static, bool>;
    /// Discards what was written.
    fn abort(self: Box<Self>) -> StoreFuture<'static, ()>;
}

/// The outcome of claiming a blob for its uploader.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// The uploader now owns it, and its length counts against their quota.
    New,
    /// Someone owns it already (ownership is permanent, even after a delete).
    Existing,
    /// It would take the uploader over their quota; nothing was written.
    OverQuota,
}

/// Which of a party's two boxes: grants shared with it (`/v1/inbox`), or
/// mail sealed to it (`/v1/mail`). Same caps, separate counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mailbox {
    /// Owner-signed grant statements with their `b1` envelopes.
    Grants,
    /// Sealed mail (receipt bundles readers forward, …).
    Mail,
}

impl Mailbox {
    fn table(self) -> &'static str {
        match self {
            Mailbox::Grants => "inbox",
            Mailbox::Mail => "mail",
        }
    }
}

/// One inbox item to store.
#[derive(Debug)]
pub struct InboxRow<'a> {
    /// The box it goes to.
    pub mailbox: Mailbox,
    /// The party whose box it is.
    pub grantee: &'a [u8; 32],
    /// The item id: the grant statement's hash, or the mail's SHA-256.
    pub id: &'a [u8; 32],
    /// The statement's signer, or the mail's (token) signer.
    pub sender: &'a [u8; 32],
    /// The JSON item.
    pub bytes: &'a [u8],
}

/// The outcome of storing an inbox item.
#[derive(Debug, PartialEq, Eq)]
pub enum InboxPut {
    /// Stored.
    New,
    /// This very item is already there.
    Existing,
    /// The sender already has `per_sender` items in this inbox.
    SenderFull,
    /// The inbox already holds `total` items.
    InboxFull,
}

/// The outcome of storing a manifest version.
#[derive(Debug, PartialEq, Eq)]
pub enum ManifestPut {
    /// Stored as the new latest version.
    New,
    /// Exactly these bytes are already stored at this version (a retry).
    Same,
    /// The latest version is not `version − 1`, or another manifest holds
    /// this version: the latest version.
    Conflict(u64),
    /// Version 1 of a new record, and the owner has `records` records.
    OverQuota,
}

/// A SMART Health Link as its owner stores it (the relay never sees its key).
#[derive(Clone)]
pub struct ShlLinkRow {
    /// The link id (32 random bytes, the last segment of its manifest URL).
    pub id: [u8; 32],
    /// The owner's party id.
    pub owner: [u8; 32],
    /// Argon2id salt and hash of the passcode, if the link has one.
    pub passcode: Option<([u8; 16], [u8; 32])>,
    /// Wrong passcodes the link still tolerates.
    pub attempts_left: u32,
    /// Expiry, ms since the Unix epoch.
    pub expires_at: Option<u64>,
    /// The `L` flag.
    pub long_term: bool,
    /// The `U` flag: one file, no passcode, fetched directly (`GET
    /// ?recipient=`); only such a link answers that request.
    pub direct: bool,
    /// The owner's label.
    pub label: Option<String>,
    /// When the owner first created it, ms.
    pub created: u64,
    /// The files: content type and compact JWE.
    pub files: Vec<(String, String)>,
    /// The link key sealed for its owner (`ShlOwnerKey`, opaque here).
    pub owner_key: Option<Vec<u8>>,
}

impl std::fmt::Debug for ShlLinkRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShlLinkRow").finish_non_exhaustive()
    }
}

/// The outcome of storing a link.
#[derive(Debug, PartialEq, Eq)]
pub enum ShlPut {
    /// A new link.
    New,
    /// The owner's existing link, replaced (its retrieval log kept).
    Replaced,
    /// Another party's link has this id; nothing was written.
    NotOwner,
    /// The owner already has `max` links; nothing was written.
    OverQuota,
    /// A refresh of a link that does not exist (any more) or expired.
    Gone,
}

/// What the manifest route may do with a link, after one attempt was
/// reserved (for a link with a passcode).
#[derive(Debug, PartialEq, Eq)]
pub enum ShlGate {
    /// No such link, or it expired, or its attempts are used up.
    Gone,
    /// The link needs no passcode.
    Open {
        /// Whether it is a `U` link ([`ShlLinkRow::direct`]).
        direct: bool,
    },
    /// One attempt was taken (`left` remain after it): check the passcode
    /// against `salt`/`hash`, and give the attempt back if it matches.
    Passcode {
        /// The link's owner (its passcode hashes are limited per owner).
        owner: [u8; 32],
        /// Argon2id salt.
        salt: [u8; 16],
        /// Argon2id hash.
        hash: [u8; 32],
        /// Attempts left after this one.
        left: u32,
    },
}

/// One file of a manifest answer: embedded, or behind a location token.
#[derive(Debug)]
pub enum ShlFileOut {
    /// The JWE itself.
    Embedded(String, String),
    /// The content type and a one-off location token.
    Location(String, [u8; 32]),
}

/// One link of the owner's listing.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShlListing {
    /// The link id (base64url).
    pub id: String,
    /// The label.
    pub label: Option<String>,
    /// Expiry, ms.
    pub expires_at: Option<u64>,
    /// The `L` flag.
    pub long_term: bool,
    /// Whether a passcode is required.
    pub passcode: bool,
    /// Wrong passcodes still tolerated.
    pub attempts_left: u32,
    /// Created, ms.
    pub created: u64,
    /// Number of files.
    pub files: u32,
    /// The `U` flag.
    pub direct: bool,
    /// Every distinct recipient that retrieved it (the first
    /// [`SHL_RECIPIENTS_KEPT`]), with how often and when first and last,
    /// in the order they first came.
    pub retrievals: Vec<ShlRetrieval>,
    /// Retrievals by recipients past the first [`SHL_RECIPIENTS_KEPT`],
    /// counted together (a flood of made-up names cannot push the earlier
    /// ones out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_recipients: Option<ShlOthers>,
    /// The link key sealed for its owner, base64url, if the owner left one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_key: Option<String>,
}

/// Most bytes of link files (content types and JWEs) one owner's links hold
/// together: kept in the metadata database, so bounded apart from the blob
/// quota.
pub const SHL_BYTES_PER_OWNER: u64 = 32 << 20;
/// Distinct recipients the relay logs one by one per link; later new ones
/// are counted together ([`ShlListing::other_recipients`]).
pub const SHL_RECIPIENTS_KEPT: i64 = 1000;

/// One recipient's retrievals of a link.
#[derive(Debug, serde::Serialize)]
pub struct ShlRetrieval {
    /// The recipient string the retriever sent.
    pub recipient: String,
    /// How many retrievals it made.
    pub count: u64,
    /// The first, ms.
    pub first: u64,
    /// The latest, ms.
    pub last: u64,
}

/// Retrievals counted together, without their recipients.
#[derive(Debug, serde::Serialize)]
pub struct ShlOthers {
    /// How many.
    pub count: u64,
    /// The first, ms.
    pub first: u64,
    /// The latest, ms.
    pub last: u64,
}

/// The relay's durable state: blobs (with their uploader), manifests,
/// inboxes, token nonces.
pub trait RelayStore: Send + Sync {
    /// Whether the backend answers (`/readyz`): a trivial round trip.
    fn health(&self) -> StoreFuture<'_, ()>;
    /// The length of a stored blob.
    fn blob_len<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Option<u64>>;
    /// Starts writing a blob.
    fn create_blob<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Box<dyn BlobSink>>;
    /// Streams `len` bytes of a blob from `start`.
    fn read_blob<'a>(
        &'a self,
        id: &'a [u8; 32],
        start: u64,
        len: u64,
    ) -> StoreFuture<'a, Option<ByteStream>>;
    /// Bytes of blobs a party owns.
    fn usage<'a>(&'a self, party: &'a [u8; 32]) -> StoreFuture<'a, u64>;
    /// Makes `owner` the owner of blob `id` of `len` bytes unless someone
    /// already is, within `quota` bytes of stored blobs.
    fn claim_blob<'a>(
        &'a self,
        id: &'a [u8; 32],
        owner: &'a [u8; 32],
        len: u64,
        quota: u64,
    ) -> StoreFuture<'a, Claim>;
    /// The party that first uploaded a blob (kept after a delete).
    fn blob_owner<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Option<[u8; 32]>>;
    /// Deletes a blob's bytes (its owner record stays); `false` if absent.
    fn delete_blob<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, bool>;
    /// The latest manifest version of a record.
    fn latest_manifest<'a>(&'a self, record: &'a [u8; 32]) -> StoreFuture<'a, Option<u64>>;
    /// One manifest version.
    fn manifest<'a>(
        &'a self,
        record: &'a [u8; 32],
        version: u64,
    ) -> StoreFuture<'a, Option<Vec<u8>>>;
    /// Stores `version` of `owner`'s record if the latest is `version − 1`
    /// (version 1: a new record, within `records` per owner), atomically.
    fn put_manifest<'a>(
        &'a self,
        record: &'a [u8; 32],
        version: u64,
        owner: &'a [u8; 32],
        bytes: &'a [u8],
        records: u64,
    ) -> StoreFuture<'a, ManifestPut>;
    /// The owner of a record (the signer of its manifests).
    fn record_owner<'a>(&'a self, record: &'a [u8; 32]) -> StoreFuture<'a, Option<[u8; 32]>>;
    /// Stores an inbox item within the caps.
    fn put_inbox<'a>(
        &'a self,
        row: InboxRow<'a>,
        per_sender: u64,
        total: u64,
    ) -> StoreFuture<'a, InboxPut>;
    /// The oldest `limit` items of one of a party's boxes, in arrival
    /// order: `(id, JSON)`.
    fn inbox<'a>(
        &'a self,
        mailbox: Mailbox,
        grantee: &'a [u8; 32],
        limit: usize,
    ) -> StoreFuture<'a, Vec<([u8; 32], Vec<u8>)>>;
    /// A page of a party's mail: up to `limit` items whose arrival number is
    /// above `after`, in arrival order: `(seq, id, JSON)`.
    fn mail_page<'a>(
        &'a self,
        grantee: &'a [u8; 32],
        after: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<MailRow>>;
    /// Removes an item from one of a party's boxes; `false` if absent.
    fn delete_inbox<'a>(
        &'a self,
        mailbox: Mailbox,
        grantee: &'a [u8; 32],
        id: &'a [u8; 32],
    ) -> StoreFuture<'a, bool>;
    /// Records a token nonce durably; `false` if already seen. Forgets
    /// nonces seen before `forget_before`.
    fn use_nonce<'a>(
        &'a self,
        nonce: &'a [u8; 16],
        now: u64,
        forget_before: u64,
    ) -> StoreFuture<'a, bool>;
    /// Stores (or, for its owner, replaces) a link with its files, in one
    /// transaction; at most `max_links` per owner.
    fn shl_put(&self, row: ShlLinkRow, max_links: u64) -> StoreFuture<'static, ShlPut>;
    /// Replaces the files of the owner's live link `id` (a long-term link
    /// refreshed), keeping everything else: `Replaced`, `NotOwner`, or `Gone`
    /// (no such link, expired, or a snapshot: its answer is `finalized`).
    fn shl_refresh(
        &self,
        owner: [u8; 32],
        id: [u8; 32],
        files: Vec<(String, String)>,
        now: u64,
    ) -> StoreFuture<'static, ShlPut>;
    /// Gates one manifest request at `now`: for a link with a passcode,
    /// takes one attempt (only when `take`: a request without a passcode,
    /// or a direct-file GET, takes none) in the same transaction that reads
    /// the count, so parallel requests never get more attempts than are left.
    fn shl_gate(&self, id: [u8; 32], now: u64, take: bool) -> StoreFuture<'static, ShlGate>;
    /// Gives back the attempt [`RelayStore::shl_gate`] took (the passcode matched).
    fn shl_refund(&self, id: [u8; 32]) -> StoreFuture<'static, ()>;
    /// The files of a live link for `recipient` at `now`, logging the
    /// retrieval: files of at most `embed_max` bytes embedded, the others
    /// behind location tokens valid until `location_until`. `None` if gone.
    fn shl_retrieve(
        &self,
        id: [u8; 32],
        recipient: String,
        now: u64,
        embed_max: u64,
        location_until: u64,
    ) -> StoreFuture<'static, Option<(bool, Vec<ShlFileOut>)>>;
    /// The JWE behind a location token still valid at `now` (of a live link).
    fn shl_location(&self, token: [u8; 32], now: u64) -> StoreFuture<'static, Option<String>>;
    /// The owner's links with their retrievals.
    fn shl_list(&self, owner: [u8; 32]) -> StoreFuture<'static, Vec<ShlListing>>;
    /// Deletes the owner's link, its files, locations and log; `false` if
    /// the owner has no such link.
    fn shl_delete(&self, owner: [u8; 32], id: [u8; 32]) -> StoreFuture<'static, bool>;
    /// The owner's latest state object in `slot` ([`super::state`]).
    fn state_get(&self, owner: [u8; 32], slot: String) -> StoreFuture<'static, Option<Vec<u8>>>;
    /// Stores `bytes` as `version` of the owner's `slot` if the stored one
    /// is `version - 1`, in one transaction.
    fn state_put(
        &self,
        owner: [u8; 32],
        slot: String,
        version: u64,
        bytes: Vec<u8>,
    ) -> StoreFuture<'static, super::state::StatePut>;
}

/// Blob bytes in a [`Blobs`] store (files by default, or a bucket), everything
/// else in the metadata database ([`crate::db`]: SQLite by default, or
/// PostgreSQL shared by several relay processes).
#[derive(Debug)]
pub struct LocalStore {
    blobs: Arc<dyn Blobs>,
    meta: Arc<Db>,
}

/// The schema this code writes (SQLite `PRAGMA user_version`, PostgreSQL
/// `relay.schema_version`); another one is refused at start (pre-release
/// formats are not migrated).
const SCHEMA_VERSION: i64 = 1;

/// The relay's tables (with [`super::state::SCHEMA`] and [`nonces::TABLE`]),
/// in the dialect [`crate::db`] writes for both engines.
const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS records (record BLOB PRIMARY KEY, owner BLOB NOT NULL);
     CREATE INDEX IF NOT EXISTS records_by_owner ON records (owner);
     CREATE TABLE IF NOT EXISTS manifests (record BLOB NOT NULL, version INTEGER NOT NULL,
         bytes BLOB NOT NULL, PRIMARY KEY (record, version));
     CREATE TABLE IF NOT EXISTS blobs (id BLOB PRIMARY KEY, owner BLOB NOT NULL,
         len INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);
     CREATE TABLE IF NOT EXISTS usage (owner BLOB PRIMARY KEY, bytes INTEGER NOT NULL);
     CREATE TABLE IF NOT EXISTS inbox (grantee BLOB NOT NULL, id BLOB NOT NULL,
         sender BLOB NOT NULL, seq INTEGER NOT NULL, item BLOB NOT NULL,
         PRIMARY KEY (grantee, id));
     CREATE INDEX IF NOT EXISTS inbox_by_sender ON inbox (grantee, sender);
     CREATE INDEX IF NOT EXISTS inbox_by_seq ON inbox (grantee, seq);
     CREATE TABLE IF NOT EXISTS mail (grantee BLOB NOT NULL, id BLOB NOT NULL,
         sender BLOB NOT NULL, seq INTEGER NOT NULL, item BLOB NOT NULL,
         PRIMARY KEY (grantee, id));
     CREATE INDEX IF NOT EXISTS mail_by_sender ON mail (grantee, sender);
     CREATE INDEX IF NOT EXISTS mail_by_seq ON mail (grantee, seq);
     CREATE TABLE IF NOT EXISTS shl_links (id BLOB PRIMARY KEY, owner BLOB NOT NULL,
         passcode_salt BLOB, passcode_hash BLOB, attempts_left INTEGER NOT NULL,
         expires_at INTEGER, long_term INTEGER NOT NULL, label TEXT, created INTEGER NOT NULL,
         direct INTEGER NOT NULL DEFAULT 0);
     CREATE INDEX IF NOT EXISTS shl_links_by_owner ON shl_links (owner);
     CREATE TABLE IF NOT EXISTS shl_files (link BLOB NOT NULL, seq INTEGER NOT NULL,
         content_type TEXT NOT NULL, jwe TEXT NOT NULL, PRIMARY KEY (link, seq));
     CREATE TABLE IF NOT EXISTS shl_recipients (link BLOB NOT NULL, recipient TEXT NOT NULL,
         count INTEGER NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL,
         PRIMARY KEY (link, recipient));
     CREATE TABLE IF NOT EXISTS shl_locations (token BLOB PRIMARY KEY, link BLOB NOT NULL,
         seq INTEGER NOT NULL, expires INTEGER NOT NULL);
     CREATE INDEX IF NOT EXISTS shl_locations_by_time ON shl_locations (expires);
     CREATE TABLE IF NOT EXISTS shl_owner_keys (link BLOB PRIMARY KEY, sealed BLOB NOT NULL);";

/// The tables of the relay's metadata, in the order they are created (and
/// copied by `sesphr-relay migrate`).
pub const TABLES: &[&str] = &[
    "records",
    "manifests",
    "blobs",
    "usage",
    "inbox",
    "mail",
    "shl_links",
    "shl_files",
    "shl_recipients",
    "shl_locations",
    "shl_owner_keys",
    "owner_state",
    "nonces",
];

/// How the relay's metadata database is opened.
pub fn meta_schema() -> Schema<'static> {
    Schema {
        service: "relay",
        version: SCHEMA_VERSION,
        sqlite_pragmas: &[],
        tables: &[SCHEMA, super::state::SCHEMA, nonces::TABLE],
    }
}

/// Opens the relay's metadata database at `location` (creating its tables),
/// and brings an SQLite file of an older release up to date.
pub fn open_meta(location: &DbLocation) -> Result<Db, StoreError> {
    let db = Db::open(location, &meta_schema())?;
    if let Some(migrated) = db.sqlite(|c| shl_migrate(c).map_err(|e| DbError::new(e.0))) {
        migrated?;
    }
    Ok(db)
}

/// Brings the SMART Health Link tables of a data directory written before
/// the retrieval log was aggregated up to date, in one transaction, once:
/// `shl_links` gains `direct` (set for existing links of the `U` shape: one
/// file, no passcode) and every
/// row of the old `shl_retrievals` log is folded into `shl_recipients`
/// (count, first and last time per recipient), which replaces it. SQLite
/// only: PostgreSQL databases start at the current tables.
fn shl_migrate(c: &rusqlite::Connection) -> Result<(), StoreError> {
    let has = |sql: &str| -> Result<bool, StoreError> {
        c.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n > 0)
            .map_err(StoreError::from)
    };
    let direct = has("SELECT COUNT(*) FROM pragma_table_info('shl_links') WHERE name = 'direct'")?;
    let old_log =
        has("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'shl_retrievals'")?;
    if direct && !old_log {
        return Ok(());
    }
    let mut batch = String::from("BEGIN IMMEDIATE;");
    if !direct {
        // Links stored before the flag were answered by direct GET when they had
        // one file and no passcode (the only shape a `U` link has); they keep that.
        batch.push_str(
            "ALTER TABLE shl_links ADD COLUMN direct INTEGER NOT NULL DEFAULT 0;
             UPDATE shl_links SET direct = 1 WHERE passcode_hash IS NULL
                 AND (SELECT COUNT(*) FROM shl_files f WHERE f.link = shl_links.id) = 1;",
        );
    }
    if old_log {
        batch.push_str(
            "INSERT INTO shl_recipients (link, recipient, count, first, last)
                 SELECT link, recipient, COUNT(*), MIN(at), MAX(at) FROM shl_retrievals
                 GROUP BY link, recipient;
             DROP TABLE shl_retrievals;",
        );
    }
    batch.push_str("COMMIT;");
    c.execute_batch(&batch).map_err(StoreError::from)
}

/// Runs `f` as one transaction of the metadata database on the blocking
/// pool. `f` may run more than once (PostgreSQL retries a transaction that
/// lost a serialization race): it must have no effect outside `tx`.
fn meta<T: Send + 'static>(
    meta: &Arc<Db>,
    mut f: impl FnMut(&mut dyn Tx) -> Result<T, DbError> + Send + 'static,
) -> StoreFuture<'static, T> {
    let meta = meta.clone();
    Box::pin(async move {
        tokio::task::spawn_blocking(move || meta.tx(&mut f).map_err(StoreError::from))
            .await
            .map_err(|e| StoreError(e.to_string()))?
    })
}

/// Bytes of blobs `owner` owns.
fn used(tx: &mut dyn Tx, owner: &[u8; 32]) -> Result<u64, DbError> {
    Ok(tx
        .value::<u64>("SELECT bytes FROM usage WHERE owner = $1", &[owner])?
        .unwrap_or(0))
}

/// Counts a blob of `len` bytes against its owner.
fn add_usage(tx: &mut dyn Tx, owner: &[u8; 32], len: u64) -> Result<(), DbError> {
    tx.exec(
        "INSERT INTO usage (owner, bytes) VALUES ($1, $2)
         ON CONFLICT (owner) DO UPDATE SET bytes = usage.bytes + $2",
        &[owner, &len],
    )?;
    Ok(())
}

/// The latest stored version of a record's manifest.
fn latest_version(tx: &mut dyn Tx, record: &[u8; 32]) -> Result<Option<u64>, DbError> {
    tx.one(
        "SELECT MAX(version) FROM manifests WHERE record = $1",
        &[record],
    )?
    .get(0)
}

/// One stored manifest version.
fn manifest_bytes(
    tx: &mut dyn Tx,
    record: &[u8; 32],
    version: u64,
) -> Result<Option<Vec<u8>>, DbError> {
    tx.value(
        "SELECT bytes FROM manifests WHERE record = $1 AND version = $2",
        &[record, &version],
    )
}

/// Marks blob `id` deleted and takes its length off its owner's usage, in
/// one transaction (the metadata half of [`RelayStore::delete_blob`]; the
/// owner record stays). Nothing changes for a blob already deleted.
fn forget_blob(db: &Arc<Db>, id: [u8; 32]) -> StoreFuture<'static, ()> {
    meta(db, move |tx| {
        let row = tx.row(
            "SELECT owner, len, deleted FROM blobs WHERE id = $1",
            &[&id],
        )?;
        if let Some(row) = row {
            let (owner, len, deleted): ([u8; 32], u64, i64) =
                (row.get(0)?, row.get(1)?, row.get(2)?);
            if deleted == 0 {
                tx.exec("UPDATE blobs SET deleted = 1 WHERE id = $1", &[&id])?;
                tx.exec(
                    "UPDATE usage SET bytes = CASE WHEN bytes > $2 THEN bytes - $2 ELSE 0 END
                     WHERE owner = $1",
                    &[&owner, &len],
                )?;
            }
        }
        Ok(())
    })
}

impl LocalStore {
    /// Opens (creating) the store under `root`, its blobs as files under
    /// `root/blobs` ([`FsBlobs`]; temporary files a crash left are removed).
    pub fn open(root: PathBuf) -> Result<LocalStore, StoreError> {
        let meta = DbLocation::Sqlite(root.join("meta.sqlite3"));
        LocalStore::open_with(root, &meta)
    }

    /// Opens the store with blob files under `root` and its metadata at
    /// `meta` (`--relay-db`): the SQLite file of [`LocalStore::open`], or a
    /// PostgreSQL database several relay processes share.
    pub fn open_with(root: PathBuf, meta: &DbLocation) -> Result<LocalStore, StoreError> {
        let blobs = Arc::new(FsBlobs::open(root.clone())?);
        LocalStore::open_parts(root, blobs, meta)
    }

    /// Opens the store with its metadata in `root/meta.sqlite3` and its blob
    /// bytes in `blobs`.
    pub fn open_with_blobs(root: PathBuf, blobs: Arc<dyn Blobs>) -> Result<LocalStore, StoreError> {
        let meta = DbLocation::Sqlite(root.join("meta.sqlite3"));
        LocalStore::open_parts(root, blobs, &meta)
    }

    /// Opens the store with its blob bytes in `blobs` (`--blob-store`) and
    /// its metadata at `meta` (`--relay-db`); `root` is the relay's data
    /// directory.
    pub fn open_parts(
        root: PathBuf,
        blobs: Arc<dyn Blobs>,
        meta: &DbLocation,
    ) -> Result<LocalStore, StoreError> {
        std::fs::create_dir_all(&root)?;
        let meta = Arc::new(open_meta(meta)?);
        Ok(LocalStore { blobs, meta })
    }

    /// The blob bytes (for health checks).
    pub fn blobs(&self) -> &Arc<dyn Blobs> {
        &self.blobs
    }
}

impl RelayStore for LocalStore {
    fn health(&self) -> StoreFuture<'_, ()> {
        let db = self.meta.clone();
        Box::pin(async move {
            self.blobs.health().await?;
            tokio::task::spawn_blocking(move || db.health())
                .await
                .map_err(|e| StoreError(e.to_string()))?
                .map_err(|e| StoreError(e.to_string()))
        })
    }

    fn blob_len<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Option<u64>> {
        self.blobs.len(id)
    }

    fn create_blob<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Box<dyn BlobSink>> {
        self.blobs.create(id)
    }

    fn read_blob<'a>(
        &'a self,
        id: &'a [u8; 32],
        start: u64,
        len: u64,
    ) -> StoreFuture<'a, Option<ByteStream>> {
        self.blobs.read(id, start, len)
    }

    fn usage<'a>(&'a self, party: &'a [u8; 32]) -> StoreFuture<'a, u64> {
        let party = *party;
        meta(&self.meta, move |tx| used(tx, &party))
    }

    fn claim_blob<'a>(
        &'a self,
        id: &'a [u8; 32],
        owner: &'a [u8; 32],
        len: u64,
        quota: u64,
    ) -> StoreFuture<'a, Claim> {
        let (id, owner) = (*id, *owner);
        meta(&self.meta, move |tx| {
            let existing = tx.row("SELECT owner, deleted FROM blobs WHERE id = $1", &[&id])?;
            if let Some(row) = existing {
                let (holder, deleted): ([u8; 32], i64) = (row.get(0)?, row.get(1)?);
                if deleted != 0 {
                    // Stored again after its owner deleted it: it counts
                    // against its owner again, who alone may delete it.
                    tx.exec("UPDATE blobs SET deleted = 0 WHERE id = $1", &[&id])?;
                    add_usage(tx, &holder, len)?;
                }
                return Ok(Claim::Existing);
            }
            if used(tx, &owner)?.saturating_add(len) > quota {
                return Ok(Claim::OverQuota);
            }
            tx.exec(
                "INSERT INTO blobs (id, owner, len) VALUES ($1, $2, $3)",
                &[&id, &owner, &len],
            )?;
            add_usage(tx, &owner, len)?;
            Ok(Claim::New)
        })
    }

    fn blob_owner<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Option<[u8; 32]>> {
        let id = *id;
        meta(&self.meta, move |tx| {
            tx.value("SELECT owner FROM blobs WHERE id = $1", &[&id])
        })
    }

    fn delete_blob<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let existed = self.blobs.delete(id).await?;
            let id = *id;
            forget_blob(&self.meta, id).await?;
            Ok(existed)
        })
    }

    fn latest_manifest<'a>(&'a self, record: &'a [u8; 32]) -> StoreFuture<'a, Option<u64>> {
        let record = *record;
        meta(&self.meta, move |tx| latest_version(tx, &record))
    }

    fn manifest<'a>(
        &'a self,
        record: &'a [u8; 32],
        version: u64,
    ) -> StoreFuture<'a, Option<Vec<u8>>> {
        let record = *record;
        meta(&self.meta, move |tx| manifest_bytes(tx, &record, version))
    }

    fn put_manifest<'a>(
        &'a self,
        record: &'a [u8; 32],
        version: u64,
        owner: &'a [u8; 32],
        bytes: &'a [u8],
        records: u64,
    ) -> StoreFuture<'a, ManifestPut> {
        let (record, owner, bytes) = (*record, *owner, bytes.to_vec());
        meta(&self.meta, move |tx| {
            let same = manifest_bytes(tx, &record, version)?;
            let latest = latest_version(tx, &record)?.unwrap_or(0);
            match same {
                Some(stored) if stored == bytes => return Ok(ManifestPut::Same),
                Some(_) => return Ok(ManifestPut::Conflict(latest)),
                None if latest + 1 != version => return Ok(ManifestPut::Conflict(latest)),
                None => {}
            }
            if version == 1 {
                let held: u64 = tx
                    .one("SELECT COUNT(*) FROM records WHERE owner = $1", &[&owner])?
                    .get(0)?;
                if held >= records {
                    return Ok(ManifestPut::OverQuota);
                }
                tx.exec(
                    "INSERT INTO records (record, owner) VALUES ($1, $2)
                     ON CONFLICT (record) DO NOTHING",
                    &[&record, &owner],
                )?;
            }
            tx.exec(
                "INSERT INTO manifests (record, version, bytes) VALUES ($1, $2, $3)",
                &[&record, &version, &bytes],
            )?;
            Ok(ManifestPut::New)
        })
    }

    fn record_owner<'a>(&'a self, record: &'a [u8; 32]) -> StoreFuture<'a, Option<[u8; 32]>> {
        let record = *record;
        meta(&self.meta, move |tx| {
            tx.value("SELECT owner FROM records WHERE record = $1", &[&record])
        })
    }

    fn put_inbox<'a>(
        &'a self,
        row: InboxRow<'a>,
        per_sender: u64,
        total: u64,
    ) -> StoreFuture<'a, InboxPut> {
        let (grantee, id, sender, item) = (*row.grantee, *row.id, *row.sender, row.bytes.to_vec());
        let table = row.mailbox.table();
        meta(&self.meta, move |tx| {
            let exists = tx.row(
                &format!("SELECT 1 FROM {table} WHERE grantee = $1 AND id = $2"),
                &[&grantee, &id],
            )?;
            if exists.is_some() {
                return Ok(InboxPut::Existing);
            }
            let from_sender: u64 = tx
                .one(
                    &format!("SELECT COUNT(*) FROM {table} WHERE grantee = $1 AND sender = $2"),
                    &[&grantee, &sender],
                )?
                .get(0)?;
            if from_sender >= per_sender {
                return Ok(InboxPut::SenderFull);
            }
            // The arrival number is the box's highest plus one, read in the
            // transaction that inserts (so two relays never hand out one
            // number twice: at SERIALIZABLE one of them runs again).
            let counts = tx.one(
                &format!(
                    "SELECT COUNT(*), COALESCE(MAX(seq), 0) + 1 FROM {table} WHERE grantee = $1"
                ),
                &[&grantee],
            )?;
            let (held, seq): (u64, u64) = (counts.get(0)?, counts.get(1)?);
            if held >= total {
                return Ok(InboxPut::InboxFull);
            }
            tx.exec(
                &format!(
                    "INSERT INTO {table} (grantee, id, sender, seq, item) VALUES ($1, $2, $3, $4, $5)"
                ),
                &[&grantee, &id, &sender, &seq, &item],
            )?;
            Ok(InboxPut::New)
        })
    }

    fn inbox<'a>(
        &'a self,
        mailbox: Mailbox,
        grantee: &'a [u8; 32],
        limit: usize,
    ) -> StoreFuture<'a, Vec<([u8; 32], Vec<u8>)>> {
        let grantee = *grantee;
        let table = mailbox.table();
        let limit = u64::try_from(limit).unwrap_or(u64::MAX);
        meta(&self.meta, move |tx| {
            tx.rows(
                &format!("SELECT id, item FROM {table} WHERE grantee = $1 ORDER BY seq LIMIT $2"),
                &[&grantee, &limit],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?)))
            .collect()
        })
    }

    fn mail_page<'a>(
        &'a self,
        grantee: &'a [u8; 32],
        after: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<MailRow>> {
        let grantee = *grantee;
        let limit = u64::try_from(limit).unwrap_or(u64::MAX);
        meta(&self.meta, move |tx| {
            tx.rows(
                "SELECT seq, id, item FROM mail WHERE grantee = $1 AND seq > $2 \
                 ORDER BY seq LIMIT $3",
                &[&grantee, &after, &limit],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .collect()
        })
    }

    fn delete_inbox<'a>(
        &'a self,
        mailbox: Mailbox,
        grantee: &'a [u8; 32],
        id: &'a [u8; 32],
    ) -> StoreFuture<'a, bool> {
        let (grantee, id) = (*grantee, *id);
        let table = mailbox.table();
        meta(&self.meta, move |tx| {
            Ok(tx.exec(
                &format!("DELETE FROM {table} WHERE grantee = $1 AND id = $2"),
                &[&grantee, &id],
            )? == 1)
        })
    }

    fn use_nonce<'a>(
        &'a self,
        nonce: &'a [u8; 16],
        now: u64,
        forget_before: u64,
    ) -> StoreFuture<'a, bool> {
        let nonce = *nonce;
        meta(&self.meta, move |tx| {
            nonces::spend(tx, &nonce, now, forget_before)
        })
    }

    fn shl_put(&self, row: ShlLinkRow, max_links: u64) -> StoreFuture<'static, ShlPut> {
        meta(&self.meta, move |tx| {
            let owner: Option<[u8; 32]> =
                tx.value("SELECT owner FROM shl_links WHERE id = $1", &[&row.id])?;
            let outcome = match owner {
                Some(o) if o != row.owner => return Ok(ShlPut::NotOwner),
                Some(_) => ShlPut::Replaced,
                None => {
                    let held: u64 = tx
                        .one(
                            "SELECT COUNT(*) FROM shl_links WHERE owner = $1",
                            &[&row.owner],
                        )?
                        .get(0)?;
                    if held >= max_links {
                        return Ok(ShlPut::OverQuota);
                    }
                    ShlPut::New
                }
            };
            if shl_over_bytes(tx, &row.owner, &row.id, &row.files)? {
                return Ok(ShlPut::OverQuota);
            }
            let (salt, hash) = match &row.passcode {
                Some((s, h)) => (Some(s.to_vec()), Some(h.to_vec())),
                None => (None, None),
            };
            tx.exec(
                "INSERT INTO shl_links (id, owner, passcode_salt, passcode_hash, attempts_left,
                     expires_at, long_term, label, created, direct)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (id) DO UPDATE SET passcode_salt = $3, passcode_hash = $4,
                     attempts_left = $5, expires_at = $6, long_term = $7, label = $8,
                     direct = $10",
                &[
                    &row.id,
                    &row.owner,
                    &salt,
                    &hash,
                    &i64::from(row.attempts_left),
                    &row.expires_at,
                    &row.long_term,
                    &row.label,
                    &row.created,
                    &row.direct,
                ],
            )?;
            match &row.owner_key {
                Some(k) => tx.exec(
                    "INSERT INTO shl_owner_keys (link, sealed) VALUES ($1, $2)
                     ON CONFLICT (link) DO UPDATE SET sealed = $2",
                    &[&row.id, k],
                )?,
                None => tx.exec("DELETE FROM shl_owner_keys WHERE link = $1", &[&row.id])?,
            };
            shl_replace_files(tx, &row.id, &row.files)?;
            Ok(outcome)
        })
    }

    fn shl_refresh(
        &self,
        owner: [u8; 32],
        id: [u8; 32],
        files: Vec<(String, String)>,
        now: u64,
    ) -> StoreFuture<'static, ShlPut> {
        meta(&self.meta, move |tx| {
            let link = tx.row(
                "SELECT owner, expires_at, long_term FROM shl_links WHERE id = $1",
                &[&id],
            )?;
            let link: Option<([u8; 32], Option<u64>, bool)> = match link {
                Some(r) => Some((r.get(0)?, r.get(1)?, r.get(2)?)),
                None => None,
            };
            match link {
                None => return Ok(ShlPut::Gone),
                Some((o, _, _)) if o != owner => return Ok(ShlPut::NotOwner),
                // A snapshot (`finalized`) never changes.
                Some((_, _, false)) => return Ok(ShlPut::Gone),
                Some((_, Some(e), _)) if e <= now => return Ok(ShlPut::Gone),
                Some(_) => {}
            }
            if shl_over_bytes(tx, &owner, &id, &files)? {
                return Ok(ShlPut::OverQuota);
            }
            shl_replace_files(tx, &id, &files)?;
            Ok(ShlPut::Replaced)
        })
    }

    fn shl_gate(&self, id: [u8; 32], now: u64, take: bool) -> StoreFuture<'static, ShlGate> {
        meta(&self.meta, move |tx| {
            let Some(row) = tx.row(
                "SELECT passcode_salt, passcode_hash, attempts_left, expires_at, owner, direct
                 FROM shl_links WHERE id = $1",
                &[&id],
            )?
            else {
                return Ok(ShlGate::Gone);
            };
            let salt: Option<[u8; 16]> = row.get(0)?;
            let hash: Option<[u8; 32]> = row.get(1)?;
            let left: i64 = row.get(2)?;
            let expires: Option<u64> = row.get(3)?;
            let owner: [u8; 32] = row.get(4)?;
            let direct: bool = row.get(5)?;
            if expires.is_some_and(|e| e <= now) {
                return Ok(ShlGate::Gone);
            }
            let (Some(salt), Some(hash)) = (salt, hash) else {
                return Ok(ShlGate::Open { direct });
            };
            // Without taking, a passcode link is only named as one (a
            // reservation in flight may hold its last attempt).
            if left <= 0 && take {
                return Ok(ShlGate::Gone);
            }
            if take {
                // The count read above and this decrement are one
                // transaction: parallel requests, on any relay process,
                // never get more attempts than are left.
                tx.exec(
                    "UPDATE shl_links SET attempts_left = attempts_left - 1 WHERE id = $1",
                    &[&id],
                )?;
            }
            let left = if take { left - 1 } else { left.max(0) };
            Ok(ShlGate::Passcode {
                owner,
                salt,
                hash,
                left: u32::try_from(left).unwrap_or(0),
            })
        })
    }

    fn shl_refund(&self, id: [u8; 32]) -> StoreFuture<'static, ()> {
        meta(&self.meta, move |tx| {
            tx.exec(
                "UPDATE shl_links SET attempts_left = attempts_left + 1 WHERE id = $1",
                &[&id],
            )?;
            Ok(())
        })
    }

    fn shl_retrieve(
        &self,
        id: [u8; 32],
        recipient: String,
        now: u64,
        embed_max: u64,
        location_until: u64,
    ) -> StoreFuture<'static, Option<(bool, Vec<ShlFileOut>)>> {
        meta(&self.meta, move |tx| {
            let Some(link) = tx.row(
                "SELECT long_term, expires_at FROM shl_links WHERE id = $1",
                &[&id],
            )?
            else {
                return Ok(None);
            };
            let (long_term, expires): (bool, Option<u64>) = (link.get(0)?, link.get(1)?);
            if expires.is_some_and(|e| e <= now) {
                return Ok(None);
            }
            tx.exec("DELETE FROM shl_locations WHERE expires <= $1", &[&now])?;
            let files = tx.rows(
                "SELECT seq, content_type, jwe FROM shl_files WHERE link = $1 ORDER BY seq",
                &[&id],
            )?;
            let mut out = Vec::with_capacity(files.len());
            for f in files {
                let (seq, ct, jwe): (i64, String, String) = (f.get(0)?, f.get(1)?, f.get(2)?);
                if jwe.len() as u64 <= embed_max {
                    out.push(ShlFileOut::Embedded(ct, jwe));
                } else {
                    // Drawn anew if the transaction runs again: only the
                    // tokens of the run that commits are handed out.
                    let token: [u8; 32] = random_bytes(&mut os_rng());
                    tx.exec(
                        "INSERT INTO shl_locations (token, link, seq, expires) VALUES ($1, $2, $3, $4)",
                        &[&token, &id, &seq, &location_until],
                    )?;
                    out.push(ShlFileOut::Location(ct, token));
                }
            }
            // One row per recipient (count, first, last): a flood of one
            // name adds nothing but its count. Past the kept number of
            // names, new ones are counted together under '' (never a
            // recipient: blank ones are refused), so none is pushed out.
            let known: i64 = tx
                .one(
                    "SELECT COUNT(*) FROM shl_recipients WHERE link = $1 AND recipient = $2",
                    &[&id, &recipient],
                )?
                .get(0)?;
            let names: i64 = tx
                .one(
                    "SELECT COUNT(*) FROM shl_recipients WHERE link = $1 AND recipient != ''",
                    &[&id],
                )?
                .get(0)?;
            let logged = if known > 0 || names < SHL_RECIPIENTS_KEPT {
                recipient.clone()
            } else {
                String::new()
            };
            tx.exec(
                "INSERT INTO shl_recipients (link, recipient, count, first, last)
                 VALUES ($1, $2, 1, $3, $3)
                 ON CONFLICT (link, recipient) DO UPDATE SET count = shl_recipients.count + 1,
                     last = CASE WHEN shl_recipients.last > $3 THEN shl_recipients.last ELSE $3 END",
                &[&id, &logged, &now],
            )?;
            Ok(Some((long_term, out)))
        })
    }

    fn shl_location(&self, token: [u8; 32], now: u64) -> StoreFuture<'static, Option<String>> {
        meta(&self.meta, move |tx| {
            tx.value(
                "SELECT f.jwe FROM shl_locations l
                 JOIN shl_files f ON f.link = l.link AND f.seq = l.seq
                 JOIN shl_links k ON k.id = l.link
                 WHERE l.token = $1 AND l.expires > $2
                   AND (k.expires_at IS NULL OR k.expires_at > $2)",
                &[&token, &now],
            )
        })
    }

    fn shl_list(&self, owner: [u8; 32]) -> StoreFuture<'static, Vec<ShlListing>> {
        meta(&self.meta, move |tx| {
            let rows = tx.rows(
                "SELECT id, label, expires_at, long_term,
                     CASE WHEN passcode_hash IS NULL THEN 0 ELSE 1 END,
                     attempts_left, created,
                     (SELECT COUNT(*) FROM shl_files f WHERE f.link = shl_links.id),
                     (SELECT sealed FROM shl_owner_keys k WHERE k.link = shl_links.id),
                     direct
                 FROM shl_links WHERE owner = $1 ORDER BY created, id",
                &[&owner],
            )?;
            let mut links = Vec::with_capacity(rows.len());
            for r in rows {
                let id: [u8; 32] = r.get(0)?;
                let mut l = ShlListing {
                    id: sesphr_client::shl::b64url_encode(&id),
                    label: r.get(1)?,
                    expires_at: r.get(2)?,
                    long_term: r.get(3)?,
                    passcode: r.get(4)?,
                    attempts_left: u32::try_from(r.get::<i64>(5)?.max(0)).unwrap_or(u32::MAX),
                    created: r.get(6)?,
                    files: u32::try_from(r.get::<u64>(7)?).unwrap_or(u32::MAX),
                    direct: r.get(9)?,
                    retrievals: Vec::new(),
                    other_recipients: None,
                    owner_key: r
                        .get::<Option<Vec<u8>>>(8)?
                        .map(|k| sesphr_client::shl::b64url_encode(&k)),
                };
                let log = tx.rows(
                    "SELECT recipient, count, first, last FROM shl_recipients WHERE link = $1
                     ORDER BY first, recipient",
                    &[&id],
                )?;
                for row in log {
                    let row = ShlRetrieval {
                        recipient: row.get(0)?,
                        count: row.get(1)?,
                        first: row.get(2)?,
                        last: row.get(3)?,
                    };
                    if row.recipient.is_empty() {
                        l.other_recipients = Some(ShlOthers {
                            count: row.count,
                            first: row.first,
                            last: row.last,
                        });
                    } else {
                        l.retrievals.push(row);
                    }
                }
                links.push(l);
            }
            Ok(links)
        })
    }

    fn shl_delete(&self, owner: [u8; 32], id: [u8; 32]) -> StoreFuture<'static, bool> {
        meta(&self.meta, move |tx| {
            let n = tx.exec(
                "DELETE FROM shl_links WHERE id = $1 AND owner = $2",
                &[&id, &owner],
            )?;
            if n == 1 {
                for t in [
                    "shl_files",
                    "shl_locations",
                    "shl_recipients",
                    "shl_owner_keys",
                ] {
                    tx.exec(&format!("DELETE FROM {t} WHERE link = $1"), &[&id])?;
                }
            }
            Ok(n == 1)
        })
    }

    fn state_get(&self, owner: [u8; 32], slot: String) -> StoreFuture<'static, Option<Vec<u8>>> {
        meta(&self.meta, move |tx| {
            super::state::sql_get(tx, &owner, &slot)
        })
    }

    fn state_put(
        &self,
        owner: [u8; 32],
        slot: String,
        version: u64,
        bytes: Vec<u8>,
    ) -> StoreFuture<'static, super::state::StatePut> {
        meta(&self.meta, move |tx| {
            super::state::sql_put(tx, &owner, &slot, version, &bytes)
        })
    }
}

/// Whether `owner`'s links would hold more than [`SHL_BYTES_PER_OWNER`] of
/// files with `files` as link `id`'s (its current files not counted).
fn shl_over_bytes(
    tx: &mut dyn Tx,
    owner: &[u8; 32],
    id: &[u8; 32],
    files: &[(String, String)],
) -> Result<bool, DbError> {
    let others: i64 = tx
        .one(
            "SELECT COALESCE(CAST(SUM(length(f.content_type) + length(f.jwe)) AS BIGINT), 0)
             FROM shl_files f JOIN shl_links k ON f.link = k.id
             WHERE k.owner = $1 AND k.id != $2",
            &[owner, id],
        )?
        .get(0)?;
    let new: u64 = files.iter().map(|(t, j)| (t.len() + j.len()) as u64).sum();
    Ok(u64::try_from(others.max(0)).unwrap_or(0) + new > SHL_BYTES_PER_OWNER)
}

/// Replaces a link's files in `tx`; the locations handed out for the old
/// ones stop working.
fn shl_replace_files(
    tx: &mut dyn Tx,
    id: &[u8; 32],
    files: &[(String, String)],
) -> Result<(), DbError> {
    tx.exec("DELETE FROM shl_files WHERE link = $1", &[id])?;
    tx.exec("DELETE FROM shl_locations WHERE link = $1", &[id])?;
    for (seq, (ct, jwe)) in files.iter().enumerate() {
        tx.exec(
            "INSERT INTO shl_files (link, seq, content_type, jwe) VALUES ($1, $2, $3, $4)",
            &[id, &(seq as u64), ct, jwe],
        )?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rusqlite::{params, Connection};

    #[tokio::test]
    async fn an_old_retrieval_log_is_folded_per_recipient_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("relay");
        drop(LocalStore::open(root.clone()).unwrap());
        // Rewrite the link tables as the previous release left them: no
        // `direct` column, one row per retrieval.
        {
            let c = Connection::open(root.join("meta.sqlite3")).unwrap();
            c.execute_batch(
                "DROP TABLE shl_recipients;
                 ALTER TABLE shl_links DROP COLUMN direct;
                 CREATE TABLE shl_retrievals (link BLOB NOT NULL, recipient TEXT NOT NULL,
                     at INTEGER NOT NULL);",
            )
            .unwrap();
            c.execute(
                "INSERT INTO shl_links (id, owner, attempts_left, long_term, created)
                 VALUES (?1, ?2, 10, 0, 1)",
                params![&[7u8; 32][..], &[1u8; 32][..]],
            )
            .unwrap();
            // A link of the `U` shape (one file, no passcode) keeps its direct GET.
            c.execute(
                "INSERT INTO shl_links (id, owner, attempts_left, long_term, created)
                 VALUES (?1, ?2, 10, 0, 2)",
                params![&[8u8; 32][..], &[1u8; 32][..]],
            )
            .unwrap();
            c.execute(
                "INSERT INTO shl_files (link, seq, content_type, jwe) VALUES (?1, 0, 'x', 'y')",
                params![&[8u8; 32][..]],
            )
            .unwrap();
            for (who, at) in [("bob", 5), ("eve", 6), ("bob", 9), ("bob", 7)] {
                c.execute(
                    "INSERT INTO shl_retrievals (link, recipient, at) VALUES (?1, ?2, ?3)",
                    params![&[7u8; 32][..], who, at],
                )
                .unwrap();
            }
        }
        let store = LocalStore::open(root.clone()).unwrap();
        let mut listed = store.shl_list([1; 32]).await.unwrap();
        listed.sort_by_key(|l| l.created);
        assert!(
            listed[1].direct,
            "a one-file link without passcode stays direct"
        );
        let log: Vec<_> = listed[0]
            .retrievals
            .iter()
            .map(|r| (r.recipient.as_str(), r.count, r.first, r.last))
            .collect();
        assert_eq!(log, vec![("bob", 3, 5, 9), ("eve", 1, 6, 6)]);
        assert!(!listed[0].direct);
        // Once: opening again changes nothing, and the old table is gone.
        drop(store);
        let store = LocalStore::open(root.clone()).unwrap();
        let again = store.shl_list([1; 32]).await.unwrap();
        let again = again.iter().find(|l| l.created == 1).unwrap();
        assert_eq!(again.retrievals.len(), 2);
        let c = Connection::open(root.join("meta.sqlite3")).unwrap();
        let old: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'shl_retrievals'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(old, 0);
    }
}
