//! The properties checked over every reachable state (formulas in
//! `docs/verification.md`).
//!
//! *Entitlement* is the policy, independent of how the SRS decides: reader `r`
//! is entitled to content `c` (section `s`, written at `w`) iff some grant `g`
//! to `r` on `s` has `from(g) ≤ w` and the owner did not hold a revocation
//! receipt for `g` when `c` was written. A key holder is whoever holds both
//! halves of a split: the SRS (or anyone with a copy of its store) holds every
//! `b2` ever issued, so a grant's epoch key is in reach of its grantee
//! together with the SRS.
//!
//! The audit properties are about the listings the owner *verified*: what a
//! verified listing must show, given what the owner could check it against.

use stateright::Property;

use crate::model::{below, contains, Content, Listing, Party, SeSphr, State};

/// Names of the safety properties that hold for the protocol as implemented.
pub const SAFETY: [&str; 13] = [
    ANSWERS_ONLY_TO_GRANTEE,
    ANSWERS_DECRYPT,
    UNAUTHORIZED_GET_NOTHING,
    NO_ANSWER_AFTER_RECEIPT,
    ROTATION_LOCKS_OUT,
    FROM_NOW_NEVER_OLDER,
    ALL_GRANTEE_READS_ITS_EPOCHS,
    ONE_ANSWER_PER_REQUEST,
    RESTORE_KEEPS_POLICY,
    NO_ANSWER_AFTER_EXPIRY,
    AUDIT_SHOWS_ANSWERS,
    AUDIT_NOT_OLDER_THAN_ITS_EVIDENCE,
    AUDIT_VERIFIES_AN_HONEST_LISTING,
];

/// Paper (1): an answer goes only to the grant's grantee, for the grant's section.
pub const ANSWERS_ONLY_TO_GRANTEE: &str = "answers only to the grantee, for its section";
/// Paper (2): every answer lets the grantee derive the DEK of the entry (decryption returns the data).
pub const ANSWERS_DECRYPT: &str = "every answer decrypts to what was written";
/// Paper (3) and coalitions: no reader, relay or SRS, alone or together, that
/// is not entitled to a content reaches its DEK; no unentitled answer.
pub const UNAUTHORIZED_GET_NOTHING: &str = "no coalition without an entitled grantee reaches a DEK";
/// Forward (1): no answer for a grant after its revocation receipt.
pub const NO_ANSWER_AFTER_RECEIPT: &str = "no answer after a revocation receipt";
/// Forward (1'): no answer for a grant after it expired (SRS clock).
pub const NO_ANSWER_AFTER_EXPIRY: &str = "no answer after expiry";
/// Forward (2): after revocation and rotation, the revoked reader plus a copy
/// of the SRS store hold no key for new versions.
pub const ROTATION_LOCKS_OUT: &str =
    "after rotation, a revoked reader with the SRS's shares gets no new key";
/// Backward (1): a `from-now` grant never opens an older version.
pub const FROM_NOW_NEVER_OLDER: &str = "a from-now grant never opens an older version";
/// Backward (2), as the issue states it: a live `all` grant reads every version.
/// It does not hold (see `docs/verification.md`, "Finding").
pub const ALL_GRANTEE_READS_EVERY_VERSION: &str = "a live all-history grantee reads every version";
/// Backward (2), as implemented: a live `all` grantee who was never revoked
/// reads every version written in its grant's epoch or later.
pub const ALL_GRANTEE_READS_ITS_EPOCHS: &str =
    "a never-revoked grantee reads every version since its grant's epoch";
/// Restore: rebuilding the owner's state from the servers' copies keeps
/// every epoch, live grant and revocation-pending rotation.
pub const RESTORE_KEEPS_POLICY: &str =
    "a restored owner keeps epochs, live grants and revocations' rotations";
/// Restore: it also keeps a rotation the owner requested. It does not hold
/// (see `docs/verification.md`, "Findings").
pub const RESTORE_KEEPS_REQUESTED_ROTATION: &str = "a restored owner keeps a requested rotation";
/// Replay: the SRS answers each request (nonce) at most once.
pub const ONE_ANSWER_PER_REQUEST: &str = "at most one answer per request";
/// Audit (issue 21): in every verified listing `L` served under a head of
/// size `T`, every answer whose entry is below `T` is in `L` if its receipt
/// was forwarded before the audit started, or it precedes in the record's
/// chain an entry `L` shows, or an earlier verified listing showed it. An
/// answer that is none of these (the chain's tail, never forwarded, never
/// listed) is not covered: see [`AUDIT_SHOWS_EVERY_ANSWER`].
pub const AUDIT_SHOWS_ANSWERS: &str =
    "every answered request appears in the owner's verified listing";
/// Audit: a verified listing's head is no older than any receipt the owner
/// read for it or any head it verified before, so [`AUDIT_SHOWS_ANSWERS`],
/// which speaks of entries below the head only, cannot be met by serving an
/// old head.
pub const AUDIT_NOT_OLDER_THAN_ITS_EVIDENCE: &str =
    "a verified listing's head is no older than a forwarded receipt or a kept head";
/// Audit: the owner verifies a listing that shows every entry of the record
/// under the log's current head (no false alarm from an honest SRS).
pub const AUDIT_VERIFIES_AN_HONEST_LISTING: &str = "the owner verifies an honest listing";
/// Audit, without the design's bound: a verified listing shows every answer
/// below its head. It does not hold (see `docs/verification.md`, "The
/// audit's bound").
pub const AUDIT_SHOWS_EVERY_ANSWER: &str = "a verified listing shows every answer below its head";

/// Reachability checks that keep the safety properties from holding vacuously.
pub const REACHABLE: [&str; 8] = [
    SOME_GRANTEE_DECRYPTS,
    SOME_FROM_NOW_GRANTEE_DECRYPTS,
    SOME_REISSUED_GRANT_ANSWERED,
    SOME_WRITE_LOCKS_OUT,
    SOME_REVOKED_GRANT_KEPT_OLD_EPOCH,
    SOME_RESTORE_FINDS_A_REVOCATION,
    SOME_AUDIT_SHOWS_AN_ANSWER,
    SOME_OMISSION_REFUSED,
];

/// The audit's reachability checks (only reached in bounds with audits).
pub const AUDIT_REACHABLE: [&str; 2] = [SOME_AUDIT_SHOWS_AN_ANSWER, SOME_OMISSION_REFUSED];

/// A verified listing shows an answer.
pub const SOME_AUDIT_SHOWS_AN_ANSWER: &str = "a verified listing shows an answer";
/// The owner refuses a listing from which the SRS left out an entry.
pub const SOME_OMISSION_REFUSED: &str = "a listing that leaves out an entry is refused";
/// A restore rebuilds a revocation's pending rotation.
pub const SOME_RESTORE_FINDS_A_REVOCATION: &str = "a restore finds a pending revocation";
/// A grantee decrypts a section.
pub const SOME_GRANTEE_DECRYPTS: &str = "a grantee decrypts";
/// A `from-now` grantee decrypts a version written after its grant.
pub const SOME_FROM_NOW_GRANTEE_DECRYPTS: &str = "a from-now grantee decrypts";
/// A grant re-issued on rotation is answered.
pub const SOME_REISSUED_GRANT_ANSWERED: &str = "a re-issued grant is answered";
/// A version is written after a reader lost all its grants on the section.
pub const SOME_WRITE_LOCKS_OUT: &str = "a version is written after a revocation";
/// A revoked reader's old grant (with the SRS's copy) still opens an old-epoch
/// version: revocation cannot take back what was granted.
pub const SOME_REVOKED_GRANT_KEPT_OLD_EPOCH: &str = "a revoked grant still opens its old epoch";

/// Every property the checker evaluates.
pub fn all() -> Vec<Property<SeSphr>> {
    vec![
        Property::always(ANSWERS_ONLY_TO_GRANTEE, |_, s: &State| {
            answers_only_to_grantee(s)
        }),
        Property::always(ANSWERS_DECRYPT, |_, s: &State| {
            s.answers.iter().all(|a| a.decrypts)
        }),
        Property::always(UNAUTHORIZED_GET_NOTHING, |_, s: &State| {
            unauthorized_get_nothing(s)
        }),
        Property::always(NO_ANSWER_AFTER_RECEIPT, |_, s: &State| {
            s.answers.iter().all(|a| !a.after_receipt)
        }),
        Property::always(NO_ANSWER_AFTER_EXPIRY, |_, s: &State| {
            s.answers.iter().all(|a| !a.after_expiry)
        }),
        Property::always(ROTATION_LOCKS_OUT, |_, s: &State| rotation_locks_out(s)),
        Property::always(FROM_NOW_NEVER_OLDER, |_, s: &State| from_now_never_older(s)),
        Property::always(ALL_GRANTEE_READS_EVERY_VERSION, |_, s: &State| {
            all_grantee_reads(s, false)
        }),
        Property::always(ALL_GRANTEE_READS_ITS_EPOCHS, |_, s: &State| {
            all_grantee_reads(s, true)
        }),
        Property::always(RESTORE_KEEPS_POLICY, |_, s: &State| !s.restore_diverged),
        Property::always(RESTORE_KEEPS_REQUESTED_ROTATION, |_, s: &State| {
            !s.restore_dropped_rotation
        }),
        Property::always(ONE_ANSWER_PER_REQUEST, |_, s: &State| {
            s.answers.windows(2).all(|w| w[0].nonce != w[1].nonce)
        }),
        Property::always(AUDIT_SHOWS_ANSWERS, |_, s: &State| {
            audit_shows_answers(s, true)
        }),
        Property::always(AUDIT_SHOWS_EVERY_ANSWER, |_, s: &State| {
            audit_shows_answers(s, false)
        }),
        Property::always(AUDIT_NOT_OLDER_THAN_ITS_EVIDENCE, |_, s: &State| {
            audit_not_older_than_its_evidence(s)
        }),
        Property::always(AUDIT_VERIFIES_AN_HONEST_LISTING, |_, s: &State| {
            !s.audit.refused_honest
        }),
        Property::sometimes(SOME_AUDIT_SHOWS_AN_ANSWER, |_, s: &State| {
            s.audit.verified.iter().any(|l| {
                s.answers
                    .iter()
                    .any(|a| a.entry.is_some_and(|i| contains(l.shown, i as usize)))
            })
        }),
        Property::sometimes(SOME_OMISSION_REFUSED, |_, s: &State| {
            s.audit.refused_an_omission
        }),
        Property::sometimes(SOME_RESTORE_FINDS_A_REVOCATION, |_, s: &State| {
            s.restored_a_revocation
        }),
        Property::sometimes(SOME_GRANTEE_DECRYPTS, |_, s: &State| {
            s.answers.iter().any(|a| a.decrypts)
        }),
        Property::sometimes(SOME_FROM_NOW_GRANTEE_DECRYPTS, |_, s: &State| {
            s.answers
                .iter()
                .any(|a| a.decrypts && s.grants[a.grant as usize].from > 0)
        }),
        Property::sometimes(SOME_REISSUED_GRANT_ANSWERED, |_, s: &State| {
            s.answers.iter().any(|a| {
                let g = &s.grants[a.grant as usize];
                a.decrypts
                    && s.grants[..a.grant as usize].iter().any(|h| {
                        h.reader == g.reader
                            && h.section == g.section
                            && h.from == g.from
                            && h.epoch < g.epoch
                    })
            })
        }),
        Property::sometimes(SOME_WRITE_LOCKS_OUT, |_, s: &State| {
            s.contents
                .iter()
                .any(|c| (0..readers(s)).any(|r| locked_out(s, r, c)))
        }),
        Property::sometimes(SOME_REVOKED_GRANT_KEPT_OLD_EPOCH, |_, s: &State| {
            s.grants.iter().enumerate().any(|(g, grant)| {
                contains(s.receipts, g)
                    && s.contents
                        .iter()
                        .any(|c| opens(grant, c) && entitled(s, grant.reader, c))
            })
        }),
    ]
}

fn readers(s: &State) -> u8 {
    s.grants.iter().map(|g| g.reader + 1).max().unwrap_or(0)
}

/// Whether grant `g`'s split secret is the key of content `c` (`b1 + b2 = a_epoch`).
fn opens(g: &crate::model::Grant, c: &Content) -> bool {
    g.section == c.section && g.epoch == c.epoch
}

/// The policy: `r` may read `c`.
pub fn entitled(s: &State, r: u8, c: &Content) -> bool {
    s.grants.iter().enumerate().any(|(i, g)| {
        g.reader == r
            && g.section == c.section
            && g.from <= c.written_at
            && !contains(c.revoked_before, i)
    })
}

/// `r` held grants on `c`'s section before `c` was written, all of them were
/// revoked (receipt held) by then, and `r` got none after.
fn locked_out(s: &State, r: u8, c: &Content) -> bool {
    let mine: Vec<usize> = s
        .grants
        .iter()
        .enumerate()
        .filter(|(_, g)| g.reader == r && g.section == c.section)
        .map(|(i, _)| i)
        .collect();
    !mine.is_empty()
        && mine
            .iter()
            .all(|i| *i < c.grants_before as usize && contains(c.revoked_before, *i))
}

fn answers_only_to_grantee(s: &State) -> bool {
    s.answers.iter().all(|a| {
        let g = &s.grants[a.grant as usize];
        a.signer == Party::Reader(g.reader) && a.section == g.section
    })
}

/// Coalition: relay (ciphertext, manifests, every request and sealed answer),
/// SRS (every `b2` ever held, every `P2`) and every reader not entitled to a
/// content. They reach its DEK iff one of those readers holds `b1` of a grant
/// that opens it (the SRS supplies `b2`). Also no answer to an unentitled
/// reader.
fn unauthorized_get_nothing(s: &State) -> bool {
    let keys = s.contents.iter().all(|c| {
        s.grants
            .iter()
            .all(|g| !opens(g, c) || entitled(s, g.reader, c))
    });
    let answers = s.answers.iter().all(|a| match a.signer {
        Party::Reader(r) => entitled(s, r, &s.contents[a.written_at as usize - 1]),
        _ => false,
    });
    keys && answers
}

fn rotation_locks_out(s: &State) -> bool {
    s.contents.iter().all(|c| {
        (0..readers(s))
            .all(|r| !locked_out(s, r, c) || !s.grants.iter().any(|g| g.reader == r && opens(g, c)))
    })
}

fn from_now_never_older(s: &State) -> bool {
    let answers = s
        .answers
        .iter()
        .all(|a| a.written_at >= s.grants[a.grant as usize].from);
    let keys = s.grants.iter().all(|g| {
        g.from == 0
            || s.contents
                .iter()
                .all(|c| !opens(g, c) || c.written_at >= g.from)
    });
    answers && keys
}

/// The SRS would answer `r` for `c` under some grant (in some manifest
/// version that holds `c`, e.g. version `written_at`).
fn readable(s: &State, r: u8, c: &Content) -> bool {
    s.grants.iter().enumerate().any(|(i, g)| {
        g.reader == r
            && opens(g, c)
            && g.from <= c.written_at
            && !contains(s.srs.revoked | s.expired, i)
    })
}

fn all_grantee_reads(s: &State, since_epoch: bool) -> bool {
    s.grants.iter().enumerate().all(|(i, g)| {
        let ended = s.receipts | s.expired;
        if contains(ended, i) || (!since_epoch && g.from != 0) {
            return true;
        }
        if since_epoch
            && s.grants
                .iter()
                .enumerate()
                .any(|(j, h)| h.reader == g.reader && h.section == g.section && contains(ended, j))
        {
            return true;
        }
        s.contents
            .iter()
            .filter(|c| c.section == g.section)
            .filter(|c| !since_epoch || (c.epoch >= g.epoch && c.written_at >= g.from))
            .all(|c| readable(s, g.reader, c))
    })
}

/// Whether every verified listing shows the answers it must: with `bound`,
/// those the owner could check it against (forwarded before the audit
/// started, earlier in the chain than an entry it shows, or shown by an
/// earlier verified listing); without, every answer below its head.
fn audit_shows_answers(s: &State, bound: bool) -> bool {
    let listings = &s.audit.verified;
    listings.iter().enumerate().all(|(n, l)| {
        s.answers.iter().filter_map(|a| a.entry).all(|i| {
            let i = i as usize;
            let must = i < l.size as usize
                && (!bound
                    || contains(l.inbox, i)
                    || precedes_a_shown_entry(s, l, i)
                    || listings[..n].iter().any(|m| contains(m.shown, i)));
            !must || contains(l.shown, i)
        })
    })
}

/// Entry `i` comes before, in the record's chain, some entry `l` shows.
fn precedes_a_shown_entry(s: &State, l: &Listing, i: usize) -> bool {
    s.log.iter().enumerate().any(|(j, e)| {
        contains(l.shown, j) && e.this_record && s.log[i].this_record && e.seq > s.log[i].seq
    })
}

/// Every verified listing's head covers every receipt the owner read for it
/// (a receipt's head has size `entry + 1`) and is at least every earlier
/// verified listing's.
fn audit_not_older_than_its_evidence(s: &State) -> bool {
    let listings = &s.audit.verified;
    listings.iter().enumerate().all(|(n, l)| {
        l.inbox & !below(l.size) == 0 && listings[..n].iter().all(|m| m.size <= l.size)
    })
}
