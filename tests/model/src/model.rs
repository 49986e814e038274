//! The parties, their state and the actions that change it.
//!
//! Every secret is abstracted to *who holds it*: a grant is the split
//! `a_epoch = b1 + b2`, the SRS holds `b2` until a revocation deletes it, the
//! grantee holds `b1`, and an answer `P2 = b2·E` lets exactly the holder of
//! the matching `b1` derive the DEK of the entry whose capsule is `E`, and only
//! if the grant's epoch is the entry's epoch (otherwise `b1·E + P2 ≠ a·E`).
//! The owner's side follows `sesphr_client::policy::SectionState`, the SRS's
//! side follows `relay/src/srs.rs` (`decide` and `srs_reencrypt`), in the same
//! order of checks.
//!
//! The audit (issue 21) is modelled abstractly, from its design: the SRS
//! appends an entry for every decision to one append-only log before it
//! answers, each entry about the record carries its place in the record's
//! hash chain (`record_seq`, `record_prev`), readers forward the answers'
//! inclusion receipts to the owner, and the owner checks the record's
//! listing against its inbox and its previous verified listing. The Merkle
//! proofs are abstracted to what they guarantee: an entry a signed head
//! covers never changes, and a listing shows only entries of the log. What
//! the SRS still chooses (which entries to leave out, which head to serve)
//! is the nondeterminism of [`Action::AuditFetch`].

use stateright::{Model, Property};

use crate::properties;

/// A set of small indices (grants, nonces), as a bit set.
pub type Set = u64;

/// The largest index a [`Set`] holds.
pub const SET_CAPACITY: usize = 64;

fn has(set: Set, i: usize) -> bool {
    i < SET_CAPACITY && set & (1 << i) != 0
}

fn with(set: Set, i: usize) -> Set {
    set | (1 << i)
}

/// Deliberate bugs, each off in the protocol as implemented. Turning one on
/// must make the checker report a counterexample: that is how the tests show
/// the properties can fail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bugs {
    /// The SRS answers for a tombstoned (revoked) grant.
    pub srs_skips_revocation_check: bool,
    /// The SRS multiplies the capsule of an entry in another epoch than the grant's.
    pub srs_skips_epoch_check: bool,
    /// The owner does not rotate the section after a revocation receipt.
    pub no_rotation_on_revoke: bool,
    /// A `from-now` grant is issued in the current epoch instead of a new one.
    pub from_now_without_rotation: bool,
    /// The SRS keeps used request nonces in memory only.
    pub nonces_lost_on_restart: bool,
    /// The SRS keeps tombstones in memory only (the share survives a restart).
    pub revocations_lost_on_restart: bool,
    /// The owner's restore takes the newest epoch no manifest used as the
    /// current one even when a later write moved past it (the rule
    /// `OwnerRecord::restore` had before the model check found it).
    pub restore_takes_stale_unpublished_epoch: bool,
    /// The owner learns of an expiry only when it restores its state (the
    /// rule before `OwnerRecord::key_for_write` called `expire(now)`): a
    /// write after an expiry stays in the expired grantee's epoch.
    pub expiry_waits_for_restore: bool,
    /// The owner's audit accepts a listing that is not a complete chain
    /// (`record_seq` 0, 1, 2, … each linked to the previous).
    pub owner_skips_chain_check: bool,
    /// The owner's audit accepts a listing that leaves out a receipt a
    /// reader forwarded.
    pub owner_skips_receipt_check: bool,
    /// The owner's audit accepts a listing that leaves out an entry its
    /// previous verified listing showed (the mark).
    pub owner_skips_mark_check: bool,
    /// The owner's audit accepts a head older than its kept head or than a
    /// forwarded receipt's head.
    pub owner_skips_stale_check: bool,
}

/// The bound of the check and which bugs are seeded.
#[derive(Clone, Debug)]
pub struct Config {
    /// Number of readers (grantees).
    pub readers: u8,
    /// Number of sections of the one record.
    pub sections: u8,
    /// Record versions the patient may write (one section per version).
    pub max_versions: u8,
    /// Grants the patient may issue (re-issues on rotation are not counted).
    pub max_grants: u8,
    /// Re-encryption requests that may be created (each with a fresh nonce).
    pub max_requests: u8,
    /// Whether the attacker forges requests (its own signature for someone
    /// else's grant; a grantee asking its grant for another section).
    pub forgeries: bool,
    /// Whether the owner requests rotations and restores its state from the
    /// servers' copies (a bound of its own: these multiply the states).
    pub owner_restores: bool,
    /// Whether grants expire (the SRS clock passes a grant's `expires_at`).
    pub expiry: bool,
    /// Audits the owner may run (0: the model keeps no audit log at all, so
    /// a bound without audits explores exactly what it did before the log).
    pub max_audits: u8,
    /// Entries the audit log may hold. A decision that would append past it
    /// is not explored: the log makes every replay a new state, and this is
    /// what bounds them.
    pub max_log: u8,
    /// Whether the SRS also decides requests about another record, whose
    /// entries interleave with the record's in the same log.
    pub other_records: bool,
    /// Seeded bugs.
    pub bugs: Bugs,
}

impl Config {
    /// Bound A of the exhaustive check (`docs/verification.md` lists the
    /// others, which vary it).
    pub fn check_bound() -> Config {
        Config {
            readers: 2,
            sections: 1,
            max_versions: 2,
            max_grants: 2,
            max_requests: 2,
            forgeries: true,
            owner_restores: false,
            expiry: false,
            max_audits: 0,
            max_log: 0,
            other_records: false,
            bugs: Bugs::default(),
        }
    }

    /// The same bound with a seeded bug.
    pub fn with_bugs(self, bugs: Bugs) -> Config {
        Config { bugs, ..self }
    }
}

/// A party.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Party {
    /// The record owner.
    Patient,
    /// A reader, by index.
    Reader(u8),
    /// The attacker, who controls the network and colludes with the relay.
    Attacker,
}

/// One section version the patient wrote (its index + 1 is the record
/// version it was written at, since every write writes one section).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Content {
    /// The section.
    pub section: u8,
    /// `written_at_version`.
    pub written_at: u8,
    /// The epoch whose key encrypted it.
    pub epoch: u8,
    /// Grants whose revocation receipt the owner held, or that had expired,
    /// when it was written.
    pub revoked_before: Set,
    /// How many grants existed when it was written (later grant ids are ≥ this).
    pub grants_before: u8,
}

/// An owner-signed grant statement (with `b1` at the grantee and `b2` at the SRS).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Grant {
    /// The grantee.
    pub reader: u8,
    /// The section.
    pub section: u8,
    /// The epoch of the split secret.
    pub epoch: u8,
    /// `from_version` (0: all history).
    pub from: u8,
}

/// Why the next write of a section must rotate (`policy::RotationReason`; a
/// from-now grant rotates at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pending {
    /// A revocation receipt for a live grant of the current epoch.
    Revoked,
    /// The owner asked for a fresh epoch (`SectionState::request_rotation`).
    Requested,
    /// A live grant expired (`SectionState::expire`).
    Expired,
}

/// The owner's `SectionState` for one section.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SectionPolicy {
    /// Current epoch.
    pub epoch: u8,
    /// Live grants of the current epoch, in issue order.
    pub live: Vec<u8>,
    /// The pending rotation, if any.
    pub pending: Option<Pending>,
}

/// A re-encryption request as created (its index is its nonce).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Request {
    /// Who signed it.
    pub signer: Party,
    /// The grant id it names.
    pub grant: u8,
    /// The section it names.
    pub section: u8,
    /// The record version it asks for.
    pub version: u8,
}

/// An answer the SRS produced (`P2` with its proof), as the requester got it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Answer {
    /// Request nonce.
    pub nonce: u8,
    /// Who signed the request (who can open the sealed answer).
    pub signer: Party,
    /// The grant whose `b2` was used.
    pub grant: u8,
    /// The section the request named.
    pub section: u8,
    /// The content (`written_at_version`) whose capsule was multiplied.
    pub written_at: u8,
    /// Whether the owner already held a revocation receipt for the grant.
    pub after_receipt: bool,
    /// Whether the grant had expired.
    pub after_expiry: bool,
    /// Whether `b1·E + P2 = a·E`, i.e. the grantee derives the DEK.
    pub decrypts: bool,
    /// The index of the decision's audit entry, which the inclusion receipt
    /// names (its signed head has size `entry + 1`: the SRS signs a head
    /// after each append); `None` when the model keeps no log.
    pub entry: Option<u8>,
}

/// An entry of the SRS's audit log. Once a signed head covers it, it never
/// changes (the consistency and inclusion proofs, abstracted).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// About the owner's record (otherwise about another record).
    pub this_record: bool,
    /// `record_seq`: the number of earlier entries about the same record.
    pub seq: u8,
    /// `record_prev`: the index of the previous entry about the same record,
    /// standing for its hash; `None` for `seq` 0 (the zero hash).
    pub prev: Option<u8>,
    /// The decision was an answer (otherwise a refusal; another record's
    /// decisions are all refusals here, since no property is about them).
    pub answered: bool,
}

/// A listing of the record the owner verified.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Listing {
    /// `T`, the size of the signed head it was served under.
    pub size: u8,
    /// The entries it showed, by index (all below `size`, all about the record).
    pub shown: Set,
    /// The forwarded receipts the owner read from its inbox when the audit
    /// started, by entry index.
    pub inbox: Set,
}

/// The owner's audit state, and what its audits saw.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Audit {
    /// Receipts forwarded to the owner's inbox, by entry index.
    pub inbox: Set,
    /// The audit in progress, if any: the inbox as it read it.
    pub reading: Option<Set>,
    /// Audits started.
    pub started: u8,
    /// Every listing the owner verified, in order. The last one's size is
    /// the kept head and its entries are the mark.
    pub verified: Vec<Listing>,
    /// The owner refused a listing that left out an entry.
    pub refused_an_omission: bool,
    /// The owner refused an honest listing: every entry of the record, under
    /// the log's current head.
    pub refused_honest: bool,
}

/// The owner's verdict on a listing, in the order it checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Every check passed.
    Verified,
    /// `stale`: the head is older than the kept head or a forwarded receipt's.
    Stale,
    /// The entries are not a complete chain `record_seq` 0, 1, …, k−1.
    BrokenChain,
    /// An entry the previous verified listing showed is missing.
    LostMark,
    /// A forwarded receipt below the head is missing.
    MissingReceipt,
}

/// The SRS's durable (and, with seeded bugs, volatile) state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Srs {
    /// Tombstoned grants (`b2` deleted).
    pub revoked: Set,
    /// Request nonces seen.
    pub nonces: Set,
}

/// The whole system.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    /// Registered at the SRS directory: bit 0 the patient, bit `1 + r` reader `r`.
    pub registered: Set,
    /// Everything the patient wrote; `contents[w - 1]` was written at version `w`.
    pub contents: Vec<Content>,
    /// Signed manifests: `manifests[v - 1][s]` is the `written_at` of section
    /// `s` in version `v`, if present.
    pub manifests: Vec<Vec<Option<u8>>>,
    /// The owner's per-section policy.
    pub owner: Vec<SectionPolicy>,
    /// Next fresh epoch.
    pub next_epoch: u8,
    /// Every grant ever issued (a grant's index is its id; `sequence = id + 1`).
    pub grants: Vec<Grant>,
    /// Grants issued by an explicit grant action (not re-issues).
    pub issued: u8,
    /// Revocation receipts the owner holds.
    pub receipts: Set,
    /// Grants whose `expires_at` the SRS clock has passed.
    pub expired: Set,
    /// The SRS.
    pub srs: Srs,
    /// Every request created; the relay (attacker) saw all of them.
    pub requests: Vec<Request>,
    /// Requests in flight, not yet delivered.
    pub in_flight: Set,
    /// Answers the SRS produced, sorted.
    pub answers: Vec<Answer>,
    /// A restore from the servers' copies changed an epoch, the live grants
    /// or a revocation's pending rotation.
    pub restore_diverged: bool,
    /// A restore from the servers' copies dropped a requested rotation.
    pub restore_dropped_rotation: bool,
    /// A restore found a revocation's pending rotation (so the restore check
    /// is not vacuous).
    pub restored_a_revocation: bool,
    /// The SRS's audit log, one Merkle log for every record (empty when the
    /// model keeps none).
    pub log: Vec<Entry>,
    /// The owner's audit.
    pub audit: Audit,
}

/// An action of one party.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// A party publishes its directory entry.
    Register(Party),
    /// The patient writes a section at the next record version.
    Write {
        /// The section.
        section: u8,
    },
    /// The patient grants a section to a reader.
    Grant {
        /// The grantee.
        reader: u8,
        /// The section.
        section: u8,
        /// `from-now` (from the next version) or all history.
        from_now: bool,
    },
    /// The patient asks for a fresh epoch at the section's next write.
    Rotate {
        /// The section.
        section: u8,
    },
    /// The patient's state is rebuilt from the servers' copies (a new
    /// browser with the restored seed: `OwnerRecord::restore`).
    RestoreOwner,
    /// The patient revokes a grant at the SRS and gets the receipt.
    Revoke {
        /// The grant.
        grant: u8,
    },
    /// A party creates a re-encryption request; the relay holds it.
    Send {
        /// The signer (a reader, or the attacker forging).
        signer: Party,
        /// The grant named.
        grant: u8,
        /// The section named.
        section: u8,
        /// The record version asked for.
        version: u8,
    },
    /// The relay forwards a held request to the SRS, in any order.
    Deliver {
        /// Its nonce.
        nonce: u8,
    },
    /// The attacker sends an already delivered request again.
    Replay {
        /// Its nonce.
        nonce: u8,
    },
    /// The SRS restarts.
    RestartSrs,
    /// The SRS clock passes a grant's `expires_at`.
    Expire {
        /// The grant.
        grant: u8,
    },
    /// The reader that got an answer forwards its inclusion receipt, sealed
    /// to the owner, to the owner's inbox (at any time after the answer, or
    /// never: an offline reader, or a relay that drops it).
    Forward {
        /// The answer's entry index.
        entry: u8,
    },
    /// The SRS decides a request about another record: an entry of that
    /// record's chain in the same log.
    OtherRecordDecision,
    /// The owner starts an audit: it reads the receipts in its inbox.
    AuditStart,
    /// The SRS serves the record's listing (entries with proofs) under its
    /// signed head of size `size`, leaving out the entries in `omit`, and
    /// the owner checks it.
    AuditFetch {
        /// `T`: any size the SRS signed, older than the kept head included.
        size: u8,
        /// The record's entries below `size` the SRS leaves out.
        omit: Set,
    },
}

/// Why the SRS refused a request (the HTTP error code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// `bad_signature`: not signed by the grantee, or not for the grant's section.
    BadSignature,
    /// `replay`: nonce already seen.
    Replay,
    /// `revoked`: grant tombstoned.
    Revoked,
    /// `expired`: the grant's `expires_at` has passed (SRS clock).
    Expired,
    /// `not_in_manifest`: no entry of the grant's epoch in that version.
    NotInManifest,
    /// `before_from_version`: the entry predates the grant's `from_version`.
    BeforeFromVersion,
}

impl Refusal {
    /// The error code the servers answer with.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::BadSignature => "bad_signature",
            Refusal::Replay => "replay",
            Refusal::Revoked => "revoked",
            Refusal::Expired => "expired",
            Refusal::NotInManifest => "not_in_manifest",
            Refusal::BeforeFromVersion => "before_from_version",
        }
    }
}

/// What an action observably did.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It succeeded with nothing more to observe.
    Done,
    /// The SRS refused.
    Refused(Refusal),
    /// The owner restored its state; whether each section must rotate at
    /// its next write.
    Restored {
        /// Pending rotation, by section.
        pending: Vec<bool>,
    },
    /// The owner's verdict on a listing.
    Audited(Verdict),
    /// The SRS answered.
    Answered {
        /// Section of the entry used.
        section: u8,
        /// `written_at_version` of the entry used.
        written_at: u8,
        /// The answer's head is newer than the manifest read (the client refuses it as `stale`).
        stale: bool,
        /// The grantee derives the DEK (decrypts to the bytes written).
        decrypts: bool,
    },
}

/// The model: a bound and the seeded bugs.
#[derive(Clone, Debug)]
pub struct SeSphr {
    /// Bound and bugs.
    pub cfg: Config,
}

impl SeSphr {
    /// The model for a configuration.
    pub fn new(cfg: Config) -> SeSphr {
        SeSphr { cfg }
    }

    /// The initial state: nothing registered, written or granted.
    pub fn initial(&self) -> State {
        let sections = self.cfg.sections;
        State {
            registered: 0,
            contents: Vec::new(),
            manifests: Vec::new(),
            owner: (0..sections)
                .map(|s| SectionPolicy {
                    epoch: s,
                    live: Vec::new(),
                    pending: None,
                })
                .collect(),
            next_epoch: sections,
            grants: Vec::new(),
            issued: 0,
            receipts: 0,
            expired: 0,
            srs: Srs {
                revoked: 0,
                nonces: 0,
            },
            requests: Vec::new(),
            in_flight: 0,
            answers: Vec::new(),
            restore_diverged: false,
            restore_dropped_rotation: false,
            restored_a_revocation: false,
            log: Vec::new(),
            audit: Audit {
                inbox: 0,
                reading: None,
                started: 0,
                verified: Vec::new(),
                refused_an_omission: false,
                refused_honest: false,
            },
        }
    }

    /// Whether the model keeps the audit log.
    fn logs(&self) -> bool {
        self.cfg.max_audits > 0
    }

    /// Whether the SRS may decide once more: the log, if kept, has room.
    fn may_decide(&self, st: &State) -> bool {
        !self.logs() || st.log.len() < self.cfg.max_log as usize
    }

    /// The actions enabled in `st`.
    pub fn enabled(&self, st: &State, out: &mut Vec<Action>) {
        let cfg = &self.cfg;
        // Registration commutes with everything but what it enables, so it
        // is explored only before the first write (in every order).
        let patient = has(st.registered, 0);
        if st.manifests.is_empty() {
            if !patient {
                out.push(Action::Register(Party::Patient));
            }
            for r in 0..cfg.readers {
                if !has(st.registered, 1 + r as usize) {
                    out.push(Action::Register(Party::Reader(r)));
                }
            }
        }
        if !patient {
            return;
        }
        let version = st.manifests.len() as u8;
        if version < cfg.max_versions {
            for section in 0..cfg.sections {
                out.push(Action::Write { section });
            }
        }
        // The SRS takes grants only once the record has a head.
        if version > 0 && st.issued < cfg.max_grants {
            for reader in 0..cfg.readers {
                if !has(st.registered, 1 + reader as usize) {
                    continue;
                }
                for section in 0..cfg.sections {
                    for from_now in [false, true] {
                        out.push(Action::Grant {
                            reader,
                            section,
                            from_now,
                        });
                    }
                }
            }
        }
        for (g, _) in st.grants.iter().enumerate() {
            if !has(st.receipts, g) {
                out.push(Action::Revoke { grant: g as u8 });
                if cfg.expiry && !has(st.expired, g) {
                    out.push(Action::Expire { grant: g as u8 });
                }
            }
        }
        if cfg.owner_restores {
            for section in 0..cfg.sections {
                if known(st, section) && st.owner[section as usize].pending.is_none() {
                    out.push(Action::Rotate { section });
                }
            }
            if version > 0 {
                out.push(Action::RestoreOwner);
            }
        }
        if (st.requests.len() as u8) < cfg.max_requests {
            for (g, grant) in st.grants.iter().enumerate() {
                let grant_ix = g as u8;
                for version in 1..=version {
                    out.push(Action::Send {
                        signer: Party::Reader(grant.reader),
                        grant: grant_ix,
                        section: grant.section,
                        version,
                    });
                }
                if cfg.forgeries {
                    out.push(Action::Send {
                        signer: Party::Attacker,
                        grant: grant_ix,
                        section: grant.section,
                        version,
                    });
                    for section in (0..cfg.sections).filter(|s| *s != grant.section) {
                        out.push(Action::Send {
                            signer: Party::Reader(grant.reader),
                            grant: grant_ix,
                            section,
                            version,
                        });
                    }
                }
            }
        }
        for nonce in (0..st.requests.len()).filter(|_| self.may_decide(st)) {
            if has(st.in_flight, nonce) {
                out.push(Action::Deliver { nonce: nonce as u8 });
            } else {
                out.push(Action::Replay { nonce: nonce as u8 });
            }
        }
        out.push(Action::RestartSrs);
        if self.logs() {
            self.enabled_audit(st, out);
        }
    }

    /// The audit's actions enabled in `st`: forwarding, another record's
    /// decisions, and the owner's audits with every listing the SRS may serve.
    fn enabled_audit(&self, st: &State, out: &mut Vec<Action>) {
        for a in &st.answers {
            if let (Some(entry), Party::Reader(_)) = (a.entry, a.signer) {
                if !has(st.audit.inbox, entry as usize) {
                    out.push(Action::Forward { entry });
                }
            }
        }
        if self.cfg.other_records && self.may_decide(st) {
            out.push(Action::OtherRecordDecision);
        }
        if st.audit.reading.is_some() {
            for size in 0..=st.log.len() as u8 {
                // Every subset of the record's entries below `size`.
                let all = record_entries(st, size);
                let mut omit = all;
                loop {
                    out.push(Action::AuditFetch { size, omit });
                    if omit == 0 {
                        break;
                    }
                    omit = (omit - 1) & all;
                }
            }
        } else if st.audit.started < self.cfg.max_audits {
            out.push(Action::AuditStart);
        }
    }

    /// Applies an action: the next state and what could be observed, or
    /// `None` if the action is not enabled.
    pub fn step(&self, st: &State, action: &Action) -> Option<(State, Outcome)> {
        let mut next = st.clone();
        let outcome = match *action {
            Action::Register(party) => {
                let bit = match party {
                    Party::Patient => 0,
                    Party::Reader(r) => 1 + r as usize,
                    Party::Attacker => return None,
                };
                next.registered = with(next.registered, bit);
                Outcome::Done
            }
            Action::Write { section } => {
                self.write(&mut next, section)?;
                Outcome::Done
            }
            Action::Grant {
                reader,
                section,
                from_now,
            } => {
                self.grant(&mut next, reader, section, from_now)?;
                Outcome::Done
            }
            Action::Revoke { grant } => {
                let g = next.grants.get(grant as usize)?.clone();
                next.srs.revoked = with(next.srs.revoked, grant as usize);
                next.receipts = with(next.receipts, grant as usize);
                let policy = &mut next.owner[g.section as usize];
                let before = policy.live.len();
                policy.live.retain(|x| *x != grant);
                // `SectionState::revoked` marks a rotation only for a live grant
                // of the current epoch; for an older one it errs and the caller
                // ignores it.
                if policy.live.len() != before && !self.cfg.bugs.no_rotation_on_revoke {
                    policy.pending = Some(Pending::Revoked);
                }
                Outcome::Done
            }
            Action::Rotate { section } => {
                if !known(&next, section) {
                    return None;
                }
                let policy = next.owner.get_mut(section as usize)?;
                policy.pending.get_or_insert(Pending::Requested);
                Outcome::Done
            }
            Action::RestoreOwner => {
                let pending = self.restore(&mut next);
                Outcome::Restored { pending }
            }
            Action::Expire { grant } => {
                if grant as usize >= next.grants.len() {
                    return None;
                }
                // Only the SRS clock moves: the owner's live state learns of
                // it when `SectionState::expire` runs, at its next write of
                // the section (`OwnerRecord::key_for_write`) or restore.
                next.expired = with(next.expired, grant as usize);
                Outcome::Done
            }
            Action::Send {
                signer,
                grant,
                section,
                version,
            } => {
                if next.requests.len() >= SET_CAPACITY
                    || grant as usize >= next.grants.len()
                    || version == 0
                    || version as usize > next.manifests.len()
                {
                    return None;
                }
                next.in_flight = with(next.in_flight, next.requests.len());
                next.requests.push(Request {
                    signer,
                    grant,
                    section,
                    version,
                });
                Outcome::Done
            }
            Action::Deliver { nonce } => {
                if !has(next.in_flight, nonce as usize) {
                    return None;
                }
                next.in_flight &= !(1 << nonce);
                self.srs_process(&mut next, nonce)?
            }
            Action::Replay { nonce } => {
                if nonce as usize >= next.requests.len() || has(next.in_flight, nonce as usize) {
                    return None;
                }
                self.srs_process(&mut next, nonce)?
            }
            Action::RestartSrs => {
                if self.cfg.bugs.nonces_lost_on_restart {
                    next.srs.nonces = 0;
                }
                if self.cfg.bugs.revocations_lost_on_restart {
                    next.srs.revoked = 0;
                }
                Outcome::Done
            }
            Action::Forward { entry } => {
                let answered = next
                    .answers
                    .iter()
                    .any(|a| a.entry == Some(entry) && matches!(a.signer, Party::Reader(_)));
                if !answered || has(next.audit.inbox, entry as usize) {
                    return None;
                }
                next.audit.inbox = with(next.audit.inbox, entry as usize);
                Outcome::Done
            }
            Action::OtherRecordDecision => {
                if !self.cfg.other_records || !self.logs() || !self.may_decide(&next) {
                    return None;
                }
                append(&mut next, false, false);
                Outcome::Done
            }
            Action::AuditStart => {
                if next.audit.reading.is_some() || next.audit.started >= self.cfg.max_audits {
                    return None;
                }
                next.audit.reading = Some(next.audit.inbox);
                next.audit.started += 1;
                Outcome::Done
            }
            Action::AuditFetch { size, omit } => {
                Outcome::Audited(self.audit(&mut next, size, omit)?)
            }
        };
        Some((next, outcome))
    }

    fn write(&self, st: &mut State, section: u8) -> Option<()> {
        let w = st.manifests.len() as u8 + 1;
        if !self.cfg.bugs.expiry_waits_for_restore {
            // `OwnerRecord::key_for_write`: `expire(now)` before keying.
            let policy = st.owner.get_mut(section as usize)?;
            let before = policy.live.len();
            policy.live.retain(|g| !has(st.expired, *g as usize));
            if policy.live.len() < before {
                policy.pending = Some(Pending::Expired);
            }
        }
        if st.owner.get(section as usize)?.pending.is_some() {
            self.rotate(st, section)?;
        }
        st.contents.push(Content {
            section,
            written_at: w,
            epoch: st.owner[section as usize].epoch,
            revoked_before: st.receipts | st.expired,
            grants_before: st.grants.len() as u8,
        });
        let mut manifest = st
            .manifests
            .last()
            .cloned()
            .unwrap_or_else(|| vec![None; self.cfg.sections as usize]);
        manifest[section as usize] = Some(w);
        st.manifests.push(manifest);
        Some(())
    }

    fn grant(&self, st: &mut State, reader: u8, section: u8, from_now: bool) -> Option<()> {
        let from = if from_now {
            st.manifests.len() as u8 + 1
        } else {
            0
        };
        if from_now && !self.cfg.bugs.from_now_without_rotation {
            self.rotate(st, section)?;
        }
        let id = self.new_grant(st, reader, section, from)?;
        st.owner[section as usize].live.push(id);
        st.issued += 1;
        Some(())
    }

    /// `SectionState::rotate`: a fresh epoch and a re-issued grant (same
    /// terms, new id) for every live grant, in order.
    fn rotate(&self, st: &mut State, section: u8) -> Option<()> {
        let epoch = st.next_epoch;
        st.next_epoch = st.next_epoch.checked_add(1)?;
        st.owner.get_mut(section as usize)?.epoch = epoch;
        let live = std::mem::take(&mut st.owner[section as usize].live);
        let mut reissued = Vec::with_capacity(live.len());
        for g in live {
            let old = st.grants[g as usize].clone();
            reissued.push(self.new_grant(st, old.reader, section, old.from)?);
        }
        let policy = &mut st.owner[section as usize];
        policy.live = reissued;
        policy.pending = None;
        Some(())
    }

    /// `OwnerRecord::restore`: per section, the current epoch is the epoch of
    /// the newest grant no manifest has used yet, else the latest manifest
    /// entry's; the live grants are that epoch's unrevoked ones (by the SRS's
    /// list); a revoked one there means a pending rotation. Records whether
    /// that differs from the state it replaces, and returns the pending flags.
    fn restore(&self, st: &mut State) -> Vec<bool> {
        let mut pending = Vec::with_capacity(st.owner.len());
        for s in 0..st.owner.len() {
            let section = s as u8;
            let used = |e: u8| {
                st.contents
                    .iter()
                    .any(|c| c.section == section && c.epoch == e)
            };
            let entry = st
                .manifests
                .last()
                .and_then(|m| m[s])
                .map(|w| &st.contents[w as usize - 1]);
            let latest = entry.map(|c| c.epoch);
            // An epoch no manifest used was opened by a from-now grant; it is
            // still current only if the section was not written since, i.e.
            // the latest entry predates that grant's `from_version`.
            let unpublished = st
                .grants
                .iter()
                .rfind(|g| g.section == section && !used(g.epoch))
                .map(|g| g.epoch)
                .filter(|e| {
                    self.cfg.bugs.restore_takes_stale_unpublished_epoch
                        || entry.is_none_or(|c| {
                            st.grants
                                .iter()
                                .filter(|g| g.section == section && g.epoch == *e)
                                .any(|g| c.written_at < g.from)
                        })
                });
            let current = &st.owner[s];
            let restored = match unpublished.or(latest) {
                // A section nobody wrote or was granted: forgotten, and a
                // fresh epoch at its next use, which no grant or entry used
                // either, so the current one stands for it.
                None => SectionPolicy {
                    epoch: current.epoch,
                    live: Vec::new(),
                    pending: None,
                },
                Some(epoch) => {
                    let of_epoch = || {
                        st.grants
                            .iter()
                            .enumerate()
                            .filter(move |(_, g)| g.section == section && g.epoch == epoch)
                    };
                    let live: Vec<u8> = of_epoch()
                        .filter(|(i, _)| !has(st.srs.revoked, *i))
                        .map(|(i, _)| i as u8)
                        .collect();
                    let revoked = of_epoch().any(|(i, _)| has(st.srs.revoked, i));
                    SectionPolicy {
                        epoch,
                        live,
                        pending: revoked.then_some(Pending::Revoked),
                    }
                }
            };
            // Then `expire(now)`, in both: what the restored state must equal
            // is the live state as it would be after the same call.
            let expire = |p: &SectionPolicy| {
                let live: Vec<u8> = p
                    .live
                    .iter()
                    .copied()
                    .filter(|g| !has(st.expired, *g as usize))
                    .collect();
                let pending = if live.len() < p.live.len() {
                    Some(Pending::Expired)
                } else {
                    p.pending
                };
                SectionPolicy {
                    epoch: p.epoch,
                    live,
                    pending,
                }
            };
            let (restored, expected) = (expire(&restored), expire(current));
            let forced = |p: &SectionPolicy| {
                matches!(p.pending, Some(Pending::Revoked) | Some(Pending::Expired))
            };
            if restored.epoch != expected.epoch
                || restored.live != expected.live
                || forced(&restored) != forced(&expected)
            {
                st.restore_diverged = true;
            }
            if current.pending == Some(Pending::Requested) && restored.pending.is_none() {
                st.restore_dropped_rotation = true;
            }
            if restored.pending.is_some() {
                st.restored_a_revocation = true;
            }
            pending.push(restored.pending.is_some());
            st.owner[s] = restored;
        }
        pending
    }

    fn new_grant(&self, st: &mut State, reader: u8, section: u8, from: u8) -> Option<u8> {
        if st.grants.len() >= SET_CAPACITY {
            return None;
        }
        let epoch = st.owner[section as usize].epoch;
        st.grants.push(Grant {
            reader,
            section,
            epoch,
            from,
        });
        Some(st.grants.len() as u8 - 1)
    }

    /// The owner's audit of a listing the SRS serves: the entries about the
    /// record below `size`, less `omit`. Checks, in order: the head is not
    /// older than the kept head or a forwarded receipt's head (`stale`); the
    /// entries are a complete chain; the mark (the previous verified
    /// listing's entries) is there; every forwarded receipt below the head
    /// is there. A verified listing becomes the kept head and the mark.
    fn audit(&self, st: &mut State, size: u8, omit: Set) -> Option<Verdict> {
        let inbox = st.audit.reading?;
        let all = record_entries(st, size);
        if size as usize > st.log.len() || omit & !all != 0 {
            return None;
        }
        st.audit.reading = None;
        let shown = all & !omit;
        let (kept, mark) = st
            .audit
            .verified
            .last()
            .map_or((0, 0), |l| (l.size, l.shown));
        let bugs = self.cfg.bugs;
        // A receipt's head has size `entry + 1`: it is newer than `size`
        // iff the entry is at or above it.
        let newer_receipt = inbox & !below(size) != 0;
        let verdict = if !bugs.owner_skips_stale_check && (size < kept || newer_receipt) {
            Verdict::Stale
        } else if !bugs.owner_skips_chain_check && !complete_chain(st, shown) {
            Verdict::BrokenChain
        } else if !bugs.owner_skips_mark_check && mark & !shown != 0 {
            Verdict::LostMark
        } else if !bugs.owner_skips_receipt_check && inbox & below(size) & !shown != 0 {
            Verdict::MissingReceipt
        } else {
            Verdict::Verified
        };
        if verdict == Verdict::Verified {
            st.audit.verified.push(Listing { size, shown, inbox });
        } else {
            if omit != 0 {
                st.audit.refused_an_omission = true;
            }
            if omit == 0 && size as usize == st.log.len() {
                st.audit.refused_honest = true;
            }
        }
        Some(verdict)
    }

    /// The SRS's decision, appended to the audit log (if the model keeps
    /// one) before the answer goes out.
    fn srs_process(&self, st: &mut State, nonce: u8) -> Option<Outcome> {
        if !self.may_decide(st) {
            return None;
        }
        let outcome = self.srs_decide(st, nonce)?;
        if self.logs() {
            append(st, true, matches!(outcome, Outcome::Answered { .. }));
        }
        Some(outcome)
    }

    /// The SRS's decision, in the order of `relay/src/srs.rs`: signature and
    /// binding, nonce, tombstone, manifest entry of the grant's epoch,
    /// `from_version`; then `P2 = b2·E`.
    fn srs_decide(&self, st: &mut State, nonce: u8) -> Option<Outcome> {
        let q = st.requests.get(nonce as usize)?.clone();
        let g = st.grants.get(q.grant as usize)?.clone();
        let bugs = self.cfg.bugs;
        if q.signer != Party::Reader(g.reader) || q.section != g.section {
            return Some(Outcome::Refused(Refusal::BadSignature));
        }
        if has(st.srs.nonces, nonce as usize) {
            return Some(Outcome::Refused(Refusal::Replay));
        }
        st.srs.nonces = with(st.srs.nonces, nonce as usize);
        if has(st.srs.revoked, q.grant as usize) && !bugs.srs_skips_revocation_check {
            return Some(Outcome::Refused(Refusal::Revoked));
        }
        if has(st.expired, q.grant as usize) {
            return Some(Outcome::Refused(Refusal::Expired));
        }
        let manifest = st.manifests.get(q.version as usize - 1)?;
        let Some(w) = manifest[g.section as usize] else {
            return Some(Outcome::Refused(Refusal::NotInManifest));
        };
        let content = st.contents.get(w as usize - 1)?;
        if content.epoch != g.epoch && !bugs.srs_skips_epoch_check {
            return Some(Outcome::Refused(Refusal::NotInManifest));
        }
        if w < g.from {
            return Some(Outcome::Refused(Refusal::BeforeFromVersion));
        }
        let decrypts = content.epoch == g.epoch;
        let answer = Answer {
            nonce,
            signer: q.signer,
            grant: q.grant,
            section: q.section,
            written_at: w,
            after_receipt: has(st.receipts, q.grant as usize),
            after_expiry: has(st.expired, q.grant as usize),
            decrypts,
            // The entry `srs_process` appends for this decision.
            entry: self.logs().then_some(st.log.len() as u8),
        };
        let pos = st.answers.binary_search(&answer).unwrap_or_else(|p| p);
        st.answers.insert(pos, answer);
        Some(Outcome::Answered {
            section: g.section,
            written_at: w,
            stale: (q.version as usize) < st.manifests.len(),
            decrypts,
        })
    }
}

impl Model for SeSphr {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![self.initial()]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        self.enabled(state, actions);
    }

    fn next_state(&self, last_state: &State, action: Action) -> Option<State> {
        self.step(last_state, &action).map(|(s, _)| s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::all()
    }
}

/// Whether the owner knows of a section: written or granted (the real
/// owner state creates a section's state on first use).
fn known(st: &State, section: u8) -> bool {
    st.contents.iter().any(|c| c.section == section)
        || st.grants.iter().any(|g| g.section == section)
}

/// Whether bit `i` is in `set`.
pub fn contains(set: Set, i: usize) -> bool {
    has(set, i)
}

/// The indices below `n`.
pub fn below(n: u8) -> Set {
    if n as usize >= SET_CAPACITY {
        Set::MAX
    } else {
        (1 << n) - 1
    }
}

/// The entries about the owner's record below index `size`.
pub fn record_entries(st: &State, size: u8) -> Set {
    st.log
        .iter()
        .take(size as usize)
        .enumerate()
        .filter(|(_, e)| e.this_record)
        .fold(0, |set, (i, _)| with(set, i))
}

/// Appends an entry to the audit log, linked into its record's chain.
fn append(st: &mut State, this_record: bool, answered: bool) {
    let prev = st.log.iter().rposition(|e| e.this_record == this_record);
    let seq = st
        .log
        .iter()
        .filter(|e| e.this_record == this_record)
        .count() as u8;
    st.log.push(Entry {
        this_record,
        seq,
        prev: prev.map(|p| p as u8),
        answered,
    });
}

/// The owner's chain check: the entries of `shown`, in log order, have
/// `record_seq` 0, 1, …, k−1, and each one's `record_prev` is the one before
/// (the first's is the zero hash).
fn complete_chain(st: &State, shown: Set) -> bool {
    let mut next = (0, None);
    for (i, e) in st.log.iter().enumerate().filter(|(i, _)| has(shown, *i)) {
        if (e.seq, e.prev) != next {
            return false;
        }
        next = (e.seq + 1, Some(i as u8));
    }
    true
}
