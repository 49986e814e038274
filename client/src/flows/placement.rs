//! Shard placement: which relays of a pool hold the shards of each of a
//! patient's sections, and how much of the patient's information one relay
//! then holds ciphertext of.
//!
//! A section's ciphertext is erasure-coded `k`-of-`n`; shard `i` goes to
//! relay `plan[section][i]`. Every [`plan`] gives each section `n` distinct
//! relays, so no relay holds `k ≥ 2` shards of one section and no single
//! relay can rebuild a section's ciphertext.
//!
//! Which sections a relay holds shards of still matters: a relay (or a
//! subpoena, or a breach) that later learns a key learns what those
//! sections say. [`leakage`] measures, per relay, the share of the
//! patient's distinct content tokens that lie in sections it holds any
//! shard of. Similar sections share tokens (medications and allergies name
//! the same drugs, labs and history the same conditions), so holding two
//! similar sections exposes less than holding two different ones.
//! [`Policy::Similarity`] uses that: it places each section where it adds
//! least new information, judged from a MinHash [`Signature`] of the
//! section's tokens that the browser computes and never sends anywhere.
//!
//! Pure and deterministic: the same signatures, pool and policy give the
//! same plan. The signatures are not a wire format (they never leave the
//! client); the plan itself is visible to whoever sees which relays are
//! written to, and shows which sections were judged alike (see
//! `docs/placement.md`).

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use crate::error::{malformed, Error, Result};
use crate::primitives::order;

/// Hash values in a [`Signature`]: the estimated Jaccard similarity has a
/// standard error of about `sqrt(J(1−J)/SLOTS)` (≤ 0.0625), and the union
/// size estimate [`Signature::cardinality`] one of about `1/sqrt(SLOTS)`.
pub const SLOTS: usize = 64;

/// Length of [`Signature::to_bytes`]: `SLOTS` big-endian `u32`s.
pub const SIGNATURE_LEN: usize = SLOTS * 4;

/// Shards a relay may hold above an even share under [`Policy::Similarity`].
const BALANCE_SLACK: usize = 0;

/// Largest pool [`plan`] places over.
pub const MAX_RELAYS: usize = 64;

/// Label of the token hash the MinHash slots are derived from.
const MINHASH_LABEL: &[u8] = b"sesphr/placement/minhash/v1";

/// Code systems whose name and the code after it are one token
/// (`LOINC 2345-7` → `loinc 2345-7`).
const CODE_SYSTEMS: [&str; 8] = [
    "loinc", "snomed", "sct", "icd10", "icd-10", "rxnorm", "cpt", "ndc",
];

/// Words too common to say anything about a section.
const STOPWORDS: [&str; 24] = [
    "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "http", "https", "in", "is",
    "it", "of", "on", "or", "org", "the", "to", "was", "with", "www",
];

/// The content tokens of `text`: lower-cased runs of letters and digits
/// (a `-` or `.` between two of them stays inside, so `2345-7`, `e11.9` and
/// `7.9` are one token each), at least two characters long, without common
/// English words and URL parts. A code-system name followed by a code is
/// kept whole (`LOINC 2345-7` → `loinc 2345-7`). In JSON, object keys (a
/// word closed by `"` and then `:`) are skipped, so a FHIR resource yields
/// its values and not its schema.
pub fn tokens(text: &str) -> impl Iterator<Item = String> {
    let chars: Vec<char> = text.chars().collect();
    let mut words: Vec<(String, bool)> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_alphanumeric()
                || ((chars[i] == '-' || chars[i] == '.')
                    && chars.get(i + 1).is_some_and(|c| c.is_alphanumeric())))
        {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect::<String>().to_lowercase();
        let rest = &chars[i..];
        // A JSON key: the word, `"`, optional spaces, `:`.
        let is_key = rest.first() == Some(&'"')
            && rest[1..].iter().find(|c| !c.is_whitespace()) == Some(&':');
        // Only spaces or `:` between this word and the next.
        let gap = rest
            .iter()
            .take_while(|c| c.is_whitespace() || **c == ':')
            .count();
        let adjacent = gap > 0 && rest.get(gap).is_some_and(|c| c.is_alphanumeric());
        if !is_key {
            words.push((word, adjacent));
        }
    }
    let mut out = Vec::with_capacity(words.len());
    let mut w = 0;
    while w < words.len() {
        let (word, adjacent) = &words[w];
        if *adjacent && CODE_SYSTEMS.contains(&word.as_str()) {
            if let Some((code, _)) = words.get(w + 1) {
                if code.chars().any(|c| c.is_ascii_digit()) {
                    out.push(format!("{word} {code}"));
                    w += 2;
                    continue;
                }
            }
        }
        if word.chars().count() >= 2 && !STOPWORDS.contains(&word.as_str()) {
            out.push(word.clone());
        }
        w += 1;
    }
    out.into_iter()
}

/// A MinHash similarity signature of a section's content tokens: slot `i`
/// holds the least of `h_i(t)` over the section's tokens `t`, for `SLOTS`
/// hash functions `h_i`. Two sections' signatures agree in a slot with
/// probability equal to the Jaccard similarity of their token sets, and the
/// slot-wise minimum of two signatures is the signature of the union.
///
/// Computed in the browser from the plaintext and never sent anywhere: it
/// reveals which sections are alike, and a token guessed by a holder can be
/// tested against it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature([u32; SLOTS]);

impl Signature {
    /// The signature of no tokens (every slot `u32::MAX`).
    pub const EMPTY: Signature = Signature([u32::MAX; SLOTS]);

    /// The signature of a set of tokens (repeats count once).
    pub fn of_tokens<I, T>(tokens: I) -> Signature
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        let mut slots = [u32::MAX; SLOTS];
        for token in tokens {
            let digest = Sha256::new()
                .chain_update(MINHASH_LABEL)
                .chain_update(token.as_ref().as_bytes())
                .finalize();
            let mut base = [0u8; 8];
            base.copy_from_slice(&digest[..8]);
            let base = u64::from_be_bytes(base);
            for (i, slot) in slots.iter_mut().enumerate() {
                let seed = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let h = (mix64(base ^ seed) >> 32) as u32;
                *slot = (*slot).min(h);
            }
        }
        Signature(slots)
    }

    /// The signature of `text`'s [`tokens`].
    pub fn of_text(text: &str) -> Signature {
        Signature::of_tokens(tokens(text))
    }

    /// The estimated Jaccard similarity of the two token sets: the share of
    /// slots that agree. Two empty sets count as identical (1).
    pub fn similarity(&self, other: &Signature) -> f64 {
        let same = self.0.iter().zip(&other.0).filter(|(a, b)| a == b).count();
        same as f64 / SLOTS as f64
    }

    /// The signature of the union of both token sets.
    pub fn union(&self, other: &Signature) -> Signature {
        let mut slots = self.0;
        for (s, o) in slots.iter_mut().zip(&other.0) {
            *s = (*s).min(*o);
        }
        Signature(slots)
    }

    /// The estimated number of distinct tokens: `(SLOTS − 1) / Σ mᵢ`, with
    /// each slot's minimum `mᵢ` scaled to `[0, 1]` (for `N` tokens each is
    /// about exponential with mean `1/(N+1)`). 0 for [`Signature::EMPTY`].
    pub fn cardinality(&self) -> f64 {
        if *self == Signature::EMPTY {
            return 0.0;
        }
        let sum: f64 = self
            .0
            .iter()
            .map(|&m| (f64::from(m) + 1.0) / 4_294_967_296.0)
            .sum();
        (SLOTS as f64 - 1.0) / sum
    }

    /// The `SIGNATURE_LEN` bytes: the slots as big-endian `u32`s.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        let mut out = [0u8; SIGNATURE_LEN];
        for (chunk, slot) in out.chunks_exact_mut(4).zip(&self.0) {
            chunk.copy_from_slice(&slot.to_be_bytes());
        }
        out
    }

    /// Reads [`Signature::to_bytes`]; any other length is `Malformed`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Signature> {
        if bytes.len() != SIGNATURE_LEN {
            return Err(malformed("placement signature", "not 256 bytes"));
        }
        let mut slots = [0u32; SLOTS];
        for (slot, chunk) in slots.iter_mut().zip(bytes.chunks_exact(4)) {
            let mut b = [0u8; 4];
            b.copy_from_slice(chunk);
            *slot = u32::from_be_bytes(b);
        }
        Ok(Signature(slots))
    }
}

/// The splitmix64 finalizer: a bijective mix of a 64-bit word.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// How [`plan`] chooses each section's relays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Striping: shard `i` of section `s` goes to relay `(s·n + i) mod
    /// relays`. Balanced, blind to content.
    RoundRobin,
    /// Each section gets `n` relays drawn uniformly without replacement
    /// from a generator seeded with `seed` (splitmix64; not a secret).
    Random {
        /// The generator's seed.
        seed: u64,
    },
    /// Similar sections on the same relays, dissimilar ones apart, storage
    /// kept balanced: see [`plan`].
    Similarity,
}

/// Places each section's `n` shards on `n` distinct relays of a pool of
/// `relays`: `plan[s][i]` is the relay of shard `i` of section `s`, with
/// `sigs[s]` the section's [`Signature`].
///
/// Requires `2 ≤ k < n ≤ relays ≤ MAX_RELAYS` (else `InvalidState`, the
/// core's argument error): with `n` distinct relays per section no relay
/// ever holds `k` shards of one.
///
/// [`Policy::Similarity`] is a greedy clustering. Each relay keeps the
/// signature of the union of the sections placed on it so far (slot-wise
/// minimum). Sections are placed largest first (by estimated token count,
/// then index); each goes to the `n` relays whose held tokens it overlaps
/// most (estimated `|S ∩ U| = J(S, U)·|S ∪ U|`), i.e. whose held
/// information it grows least, so a section joins the relays that already
/// hold sections like it. A section unlike everything placed overlaps no
/// relay (an estimate of exactly 0: disjoint sets share no MinHash slot),
/// and ties go to the relay with fewer shards, then the lower index, so it
/// goes to the emptiest relays. Storage is balanced exactly: no relay
/// takes more than `⌈sections·n/relays⌉` shards, and a relay is passed
/// over when taking it would leave the remaining sections no room
/// (checked by counting, so the greedy never gets stuck). Each section's
/// relays are listed in ascending order.
pub fn plan(
    sigs: &[Signature],
    relays: usize,
    n: usize,
    k: usize,
    policy: Policy,
) -> Result<Vec<Vec<usize>>> {
    if k < 2 {
        return Err(Error::InvalidState("a placement needs k ≥ 2"));
    }
    if n <= k {
        return Err(Error::InvalidState("a placement needs k < n"));
    }
    if relays < n {
        return Err(Error::InvalidState("a placement needs n ≤ relays"));
    }
    if relays > MAX_RELAYS {
        return Err(Error::InvalidState(
            "a placement pool has at most 64 relays",
        ));
    }
    Ok(match policy {
        Policy::RoundRobin => (0..sigs.len())
            .map(|s| (0..n).map(|i| (s * n + i) % relays).collect())
            .collect(),
        Policy::Random { seed } => {
            let mut state = seed;
            let mut next = move || {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                mix64(state)
            };
            (0..sigs.len())
                .map(|_| {
                    let mut pool: Vec<usize> = (0..relays).collect();
                    for i in 0..n {
                        // Modulo bias is below 2^-57 for pools of 64.
                        let j = i + (next() % (relays - i) as u64) as usize;
                        pool.swap(i, j);
                    }
                    pool.truncate(n);
                    pool
                })
                .collect()
        }
        Policy::Similarity => similarity_plan(sigs, relays, n),
    })
}

fn similarity_plan(sigs: &[Signature], relays: usize, n: usize) -> Vec<Vec<usize>> {
    let cap = (sigs.len() * n).div_ceil(relays) + BALANCE_SLACK;
    let mut held = vec![Signature::EMPTY; relays];
    let mut room = vec![cap; relays];
    let mut by_size: Vec<(f64, usize)> = sigs
        .iter()
        .enumerate()
        .map(|(s, sig)| (sig.cardinality(), s))
        .collect();
    order::sort_by_key(&mut by_size, |&(size, s)| {
        order::key([&order::f64_descending(size), &order::ascending(s as u64)])
    });
    let mut out = vec![Vec::new(); sigs.len()];
    for (left, &(_, s)) in (1..=by_size.len()).rev().zip(&by_size) {
        let sig = &sigs[s];
        // Most estimated overlap first; then the emptier relay, the lower index.
        let mut candidates: Vec<(f64, usize, usize)> = (0..relays)
            .map(|r| {
                let overlap = sig.similarity(&held[r]) * sig.union(&held[r]).cardinality();
                (overlap, cap - room[r], r)
            })
            .collect();
        order::sort_by_key(&mut candidates, |&(overlap, used, r)| {
            order::key([
                &order::f64_descending(overlap),
                &order::ascending(used as u64),
                &order::ascending(r as u64),
            ])
        });
        // The sections after this one must still fit: `left − 1` sections of
        // `n` distinct relays fit in rooms `c` iff Σ min(c, left − 1) ≥
        // n·(left − 1). Taking a relay with room below `left` lowers that
        // sum by one, so at most `budget` of those may be taken.
        let after = left - 1;
        let sum: usize = room.iter().map(|&c| c.min(after)).sum();
        let mut budget = sum.saturating_sub(n * after);
        let mut chosen: Vec<usize> = Vec::with_capacity(n);
        for (_, _, r) in candidates {
            if chosen.len() == n {
                break;
            }
            if room[r] == 0 {
                continue;
            }
            if room[r] < left {
                if budget == 0 {
                    continue;
                }
                budget -= 1;
            }
            room[r] -= 1;
            held[r] = held[r].union(sig);
            chosen.push(r);
        }
        out[s] = chosen;
    }
    improve(sigs, relays, &mut out);
    for chosen in &mut out {
        chosen.sort_unstable();
    }
    out
}

/// Passes of [`improve`] at most (each strictly improves the plan).
const MAX_PASSES: usize = 64;

/// Local search on a plan: the best swap per pass (section `s` moves from
/// relay `a` to `b` while section `t` moves from `b` to `a`, so storage is
/// unchanged), lowering first the largest estimated per-relay union and
/// then the sum of their squares, until no swap helps.
fn improve(sigs: &[Signature], relays: usize, plan: &mut [Vec<usize>]) {
    let score = |est: &[f64]| {
        let max = est.iter().copied().fold(0.0, f64::max);
        (max, est.iter().map(|e| e * e).sum::<f64>())
    };
    for _ in 0..MAX_PASSES {
        // Per relay: its sections, and its union without each of them
        // (prefix and suffix minima).
        let mut on: Vec<Vec<usize>> = vec![Vec::new(); relays];
        for (s, placed) in plan.iter().enumerate() {
            for &r in placed {
                on[r].push(s);
            }
        }
        let mut est = vec![0.0; relays];
        let mut without: Vec<Vec<(usize, Signature)>> = Vec::with_capacity(relays);
        for (r, list) in on.iter().enumerate() {
            let mut prefix = vec![Signature::EMPTY; list.len() + 1];
            for (i, &s) in list.iter().enumerate() {
                prefix[i + 1] = prefix[i].union(&sigs[s]);
            }
            est[r] = prefix[list.len()].cardinality();
            let mut suffix = Signature::EMPTY;
            let mut w = vec![(0, Signature::EMPTY); list.len()];
            for (i, &s) in list.iter().enumerate().rev() {
                w[i] = (s, prefix[i].union(&suffix));
                suffix = suffix.union(&sigs[s]);
            }
            without.push(w);
        }
        let current = score(&est);
        // The best swap so far: its score, sections `s`, `t`, relays `a`, `b`.
        let mut best: Option<(Score, usize, usize, usize, usize)> = None;
        let mut trial = est.clone();
        for a in 0..relays {
            for b in 0..relays {
                if a == b {
                    continue;
                }
                for (s, a_without) in without[a].iter().filter(|(s, _)| !plan[*s].contains(&b)) {
                    for (t, b_without) in without[b]
                        .iter()
                        .filter(|(t, _)| t > s && !plan[*t].contains(&a))
                    {
                        trial[a] = a_without.union(&sigs[*t]).cardinality();
                        trial[b] = b_without.union(&sigs[*s]).cardinality();
                        let sc = score(&trial);
                        if better(sc, best.as_ref().map_or(current, |b| b.0)) {
                            best = Some((sc, *s, *t, a, b));
                        }
                    }
                }
                trial[b] = est[b];
            }
            trial[a] = est[a];
        }
        let Some((_, s, t, a, b)) = best else {
            break;
        };
        for r in plan[s].iter_mut().filter(|r| **r == a) {
            *r = b;
        }
        for r in plan[t].iter_mut().filter(|r| **r == b) {
            *r = a;
        }
    }
}

/// A plan's estimated largest per-relay union, and the sum of their squares.
type Score = (f64, f64);

/// `x` beats `y`: a lower maximum, or the same maximum and a lower sum of
/// squares (by more than rounding).
fn better(x: Score, y: Score) -> bool {
    let eps = 1e-9 * (1.0 + y.0.abs() + y.1.abs());
    x.0 < y.0 - eps || (x.0 <= y.0 + eps && x.1 < y.1 - eps)
}

/// The leakage score of a plan: for each relay `r < relays`, |∪ tokens of
/// the sections `r` holds any shard of| / |∪ tokens of all sections| — the
/// share of the patient's distinct information it holds ciphertext of
/// (0 for every relay when there are no tokens at all).
///
/// `InvalidState` if the plan does not have one entry per section or names
/// a relay outside the pool.
pub fn leakage(
    sections: &[BTreeSet<String>],
    plan: &[Vec<usize>],
    relays: usize,
) -> Result<Vec<f64>> {
    check_plan(plan, relays)?;
    if plan.len() != sections.len() {
        return Err(Error::InvalidState("a plan has one entry per section"));
    }
    // `extend`, not `collect` (which sorts: see `flows/owner.rs`).
    let mut all: BTreeSet<&String> = BTreeSet::new();
    all.extend(sections.iter().flatten());
    let mut held: Vec<BTreeSet<&String>> = vec![BTreeSet::new(); relays];
    for (tokens, placed) in sections.iter().zip(plan) {
        for &r in placed {
            held[r].extend(tokens);
        }
    }
    Ok(held
        .iter()
        .map(|h| {
            if all.is_empty() {
                0.0
            } else {
                h.len() as f64 / all.len() as f64
            }
        })
        .collect())
}

/// The storage a plan puts on each relay: shards held, per relay.
/// `InvalidState` if it names a relay outside the pool.
pub fn storage(plan: &[Vec<usize>], relays: usize) -> Result<Vec<usize>> {
    check_plan(plan, relays)?;
    let mut shards = vec![0usize; relays];
    for &r in plan.iter().flatten() {
        shards[r] += 1;
    }
    Ok(shards)
}

fn check_plan(plan: &[Vec<usize>], relays: usize) -> Result<()> {
    if plan.iter().flatten().any(|&r| r >= relays) {
        return Err(Error::InvalidState("a plan names a relay outside the pool"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(not(target_arch = "wasm32"))]
    use proptest::prelude::*;

    fn sig(words: &[&str]) -> Signature {
        Signature::of_tokens(words)
    }

    #[test]
    fn tokens_are_lowercase_words_and_whole_codes() {
        let t: Vec<String> =
            tokens("HbA1c (LOINC 4548-4) was 7.9% on Metformin, ICD-10: E11.9.").collect();
        assert_eq!(
            t,
            ["hba1c", "loinc 4548-4", "7.9", "metformin", "icd-10 e11.9"]
        );
    }

    #[test]
    fn json_keys_are_skipped() {
        let t: Vec<String> =
            tokens(r#"{"resourceType": "Observation", "code" : {"text": "Glucose"}}"#).collect();
        assert_eq!(t, ["observation", "glucose"]);
    }

    #[test]
    fn identical_texts_are_similar() {
        let text = "Penicillin allergy: hives. Amoxicillin avoided.";
        let a = Signature::of_text(text);
        assert_eq!(a.similarity(&Signature::of_text(text)), 1.0);
        assert_eq!(Signature::EMPTY.similarity(&Signature::EMPTY), 1.0);
        let other = Signature::of_text("Coverage by Acme Health plan gold, member 77812");
        assert!(a.similarity(&other) < 0.2);
    }

    #[test]
    fn similarity_estimates_jaccard() {
        // 100 shared tokens, 50 + 50 own: J = 0.5.
        let shared: Vec<String> = (0..100).map(|i| format!("s{i}")).collect();
        let a: Vec<String> = shared
            .iter()
            .cloned()
            .chain((0..50).map(|i| format!("a{i}")))
            .collect();
        let b: Vec<String> = shared
            .iter()
            .cloned()
            .chain((0..50).map(|i| format!("b{i}")))
            .collect();
        let j = Signature::of_tokens(&a).similarity(&Signature::of_tokens(&b));
        assert!((0.3..0.7).contains(&j), "{j}");
        let n = Signature::of_tokens(&a)
            .union(&Signature::of_tokens(&b))
            .cardinality();
        assert!((140.0..280.0).contains(&n), "{n}");
        assert_eq!(Signature::EMPTY.cardinality(), 0.0);
    }

    #[test]
    fn signature_bytes_round_trip_and_bad_lengths_are_malformed() {
        let s = Signature::of_text("Metformin 500 mg twice daily");
        let bytes = s.to_bytes();
        assert_eq!(bytes.len(), SIGNATURE_LEN);
        assert_eq!(Signature::from_bytes(&bytes), Ok(s));
        for len in [0, SIGNATURE_LEN - 1, SIGNATURE_LEN + 1] {
            let e = Signature::from_bytes(&vec![0; len]).unwrap_err();
            assert_eq!(e.code(), "malformed");
        }
    }

    #[test]
    fn bad_arguments_are_rejected() {
        let sigs = [sig(&["a"])];
        for (relays, n, k) in [
            (5, 3, 1),
            (5, 3, 0),
            (5, 3, 3),
            (5, 2, 3),
            (2, 3, 2),
            (65, 3, 2),
        ] {
            for policy in [
                Policy::RoundRobin,
                Policy::Random { seed: 1 },
                Policy::Similarity,
            ] {
                let e = plan(&sigs, relays, n, k, policy).unwrap_err();
                assert_eq!(e.code(), "invalid_state", "{relays} {n} {k}");
            }
        }
        assert!(plan(&sigs, 64, 64, 63, Policy::Similarity).is_ok());
        assert!(plan(&[], 5, 3, 2, Policy::Similarity).unwrap().is_empty());
        let e = leakage(&[BTreeSet::new()], &[vec![5]], 5).unwrap_err();
        assert_eq!(e.code(), "invalid_state");
        let e = leakage(&[], &[vec![0]], 5).unwrap_err();
        assert_eq!(e.code(), "invalid_state");
        assert!(storage(&[vec![0, 5]], 5).is_err());
    }

    #[test]
    fn round_robin_stripes() {
        let sigs = vec![Signature::EMPTY; 3];
        let p = plan(&sigs, 5, 3, 2, Policy::RoundRobin).unwrap();
        assert_eq!(p, [vec![0, 1, 2], vec![3, 4, 0], vec![1, 2, 3]]);
    }

    #[test]
    fn similar_sections_share_relays_and_different_ones_do_not() {
        let drugs = [
            "metformin",
            "lisinopril",
            "atorvastatin",
            "penicillin",
            "500",
            "mg",
        ];
        let admin = ["acme", "gold", "member", "77812", "smith", "boston"];
        let meds = sig(&drugs);
        let allergies = sig(&drugs[1..]);
        let insurance = sig(&admin);
        let demographics = sig(&admin[2..]);
        let sigs = [meds, insurance, allergies, demographics];
        let p = plan(&sigs, 6, 3, 2, Policy::Similarity).unwrap();
        assert_eq!(p[0], p[2]);
        assert_eq!(p[1], p[3]);
        assert!(p[0].iter().all(|r| !p[1].contains(r)), "{p:?}");
    }

    #[test]
    fn leakage_counts_distinct_tokens() {
        let set = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let sections = [set(&["a", "b"]), set(&["b", "c"]), set(&["d"])];
        let p = vec![vec![0, 1], vec![0, 2], vec![1, 2]];
        assert_eq!(leakage(&sections, &p, 4).unwrap(), [0.75, 0.75, 0.75, 0.0]);
        assert_eq!(storage(&p, 4).unwrap(), [2, 2, 2, 0]);
        assert_eq!(leakage(&[BTreeSet::new()], &[vec![0]], 1).unwrap(), [0.0]);
    }

    #[test]
    fn a_full_pool_is_planned() {
        let sigs: Vec<Signature> = (0..16)
            .map(|i| Signature::of_tokens((0..20).map(|t| format!("{}", (i % 4) * 10 + t))))
            .collect();
        for n in [3, 32, 63] {
            let p = plan(&sigs, 64, n, 2, Policy::Similarity).unwrap();
            let shards = storage(&p, 64).unwrap();
            let cap = (16 * n).div_ceil(64);
            assert!(shards.iter().all(|&s| s <= cap), "{shards:?}");
            assert!(p
                .iter()
                .all(|placed| placed.iter().collect::<BTreeSet<_>>().len() == n));
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn policies() -> impl Strategy<Value = Policy> {
        prop_oneof![
            Just(Policy::RoundRobin),
            Just(Policy::Similarity),
            any::<u64>().prop_map(|seed| Policy::Random { seed }),
        ]
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest! {
        #[test]
        fn every_plan_keeps_shards_apart(
            sections in prop::collection::vec(prop::collection::btree_set(0u8..40, 0..12), 0..20),
            (relays, n, k) in (3usize..=16).prop_flat_map(|r| (Just(r), 3..=r))
                .prop_flat_map(|(r, n)| (Just(r), Just(n), 2..n)),
            policy in policies(),
        ) {
            let sigs: Vec<Signature> = sections
                .iter()
                .map(|s| Signature::of_tokens(s.iter().map(|t| format!("t{t}"))))
                .collect();
            let p = plan(&sigs, relays, n, k, policy).unwrap();
            prop_assert_eq!(p.len(), sigs.len());
            for placed in &p {
                prop_assert_eq!(placed.len(), n);
                let distinct: BTreeSet<usize> = placed.iter().copied().collect();
                prop_assert_eq!(distinct.len(), n);
                prop_assert!(placed.iter().all(|&r| r < relays));
                // No relay holds k shards of one section.
                for r in 0..relays {
                    prop_assert!(placed.iter().filter(|&&x| x == r).count() < k);
                }
            }
            prop_assert_eq!(&plan(&sigs, relays, n, k, policy).unwrap(), &p);
            let shards = storage(&p, relays).unwrap();
            prop_assert_eq!(shards.iter().sum::<usize>(), sigs.len() * n);
            if !matches!(policy, Policy::Random { .. }) {
                // The deterministic policies balance storage to an even
                // share, rounded up.
                let cap = (sigs.len() * n).div_ceil(relays) + BALANCE_SLACK;
                prop_assert!(shards.iter().all(|&s| s <= cap), "{:?}", shards);
            }
            let sets: Vec<BTreeSet<String>> = sections
                .iter()
                .map(|s| s.iter().map(|t| format!("t{t}")).collect())
                .collect();
            for score in leakage(&sets, &p, relays).unwrap() {
                prop_assert!((0.0..=1.0).contains(&score));
            }
        }

        #[test]
        fn signature_bytes_round_trip(words in prop::collection::vec("[a-z0-9]{1,8}", 0..30)) {
            let s = Signature::of_tokens(&words);
            prop_assert_eq!(Signature::from_bytes(&s.to_bytes()).unwrap(), s);
        }
    }
}
