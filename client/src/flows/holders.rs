//! Who may hold which shards of one sharded blob, and so where a shard may
//! go: the bookkeeping that keeps protocol.md's invariant, *no relay ever
//! holds `k` or more shards of a section*, through failures.
//!
//! A store and a repair both upload shards to relays that fail, lose data,
//! come back, and answer late. The client never knows exactly what a relay
//! holds, so [`Holders`] counts pessimistically:
//!
//! - a put whose answer never came may have been stored: a shard counts as
//!   possibly held from the moment it is sent ([`Holders::send`]), whatever
//!   the answer;
//! - a relay that did not answer every question of a repair's survey may
//!   hold anything, and gets nothing ([`Holders::unknown`]);
//! - a shard goes only to a relay that would then hold fewer than `k`
//!   shards it may hold ([`Holders::target`]), preferring one that holds
//!   nothing else (so that no relay learns more of the record than it must)
//!   and, among those, one that already holds part of this very shard.
//!
//! What counting cannot see is a relay that lies about what it holds: one
//! that answers "absent" for a shard it keeps looks empty. So a store ends
//! by recording, in the sealed placement, the shards each relay of the pool
//! may ever hold ([`Holders::slots`]: what it was sent, and for a relay sent
//! nothing `k − 1` shards to take in a repair), and a repair restricts every
//! relay to its record ([`Holders::restrict`]): whatever a relay claims, it
//! is never given a shard outside it, and no record has `k` shards. Pure
//! and free of I/O: the JavaScript
//! store and repair (`client/js/shards.js`) and the model check
//! (`tests/model/src/shards.rs`) run this same code.

use crate::error::{Error, Result};
use crate::objects::shard::MAX_SHARDS;

/// Largest pool a [`Holders`] tracks (the placement pool's bound).
pub const MAX_POOL: usize = crate::flows::placement::MAX_RELAYS;

/// Which relays may hold, and which are known to hold, each shard of one
/// blob. Relays are the pool's indices `0..relays`; shards `0..n`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Holders {
    k: u8,
    n: u8,
    /// Per relay: one bit per shard it may hold (sent to it, or it said it
    /// holds part of); `None` when unknown (it may hold anything).
    may: Vec<Option<u16>>,
    /// Per relay: one bit per shard it acknowledged whole (shard and index)
    /// or was seen serving whole.
    has: Vec<u16>,
    /// Per relay: the shards it may ever be given (its placement record;
    /// every shard until [`Holders::restrict`]).
    allowed: Vec<u16>,
}

impl Holders {
    fn with(k: u8, n: u8, relays: usize, known: bool) -> Result<Holders> {
        if !(k >= 2 && n > k && n <= MAX_SHARDS) {
            return Err(Error::InvalidState("shards need 2 ≤ k < n ≤ 16"));
        }
        if relays < usize::from(n) || relays > MAX_POOL {
            return Err(Error::InvalidState("a pool has from n to 64 relays"));
        }
        Ok(Holders {
            k,
            n,
            may: vec![known.then_some(0); relays],
            has: vec![0; relays],
            allowed: vec![((1u32 << n) - 1) as u16; relays],
        })
    }

    /// A fresh blob: no relay holds anything of it yet (a store).
    pub fn new(k: u8, n: u8, relays: usize) -> Result<Holders> {
        Self::with(k, n, relays, true)
    }

    /// Nothing known yet (a repair, before its survey): every relay may
    /// hold anything until [`Holders::observe`] says otherwise.
    pub fn unknown(k: u8, n: u8, relays: usize) -> Result<Holders> {
        Self::with(k, n, relays, false)
    }

    /// Shards needed to decode.
    pub fn k(&self) -> u8 {
        self.k
    }

    /// Shards in all.
    pub fn n(&self) -> u8 {
        self.n
    }

    /// Relays in the pool.
    pub fn relays(&self) -> usize {
        self.may.len()
    }

    fn relay(&self, relay: usize) -> Result<()> {
        if relay >= self.may.len() {
            return Err(Error::InvalidState("no such relay in the pool"));
        }
        Ok(())
    }

    fn shard_bits(&self, bits: u16) -> Result<u16> {
        if u32::from(bits) >> self.n != 0 {
            return Err(Error::InvalidState("no such shard"));
        }
        Ok(bits)
    }

    fn shard(&self, shard: u8) -> Result<u16> {
        if shard >= self.n {
            return Err(Error::InvalidState("no such shard"));
        }
        Ok(1 << shard)
    }

    /// A relay answered every question of a survey: `present` has a bit
    /// for each shard it holds any part of (the shard or its index),
    /// `whole` for each whose shard and verified index it holds. What it
    /// may hold is then what it said plus what this client sent it.
    pub fn observe(&mut self, relay: usize, present: u16, whole: u16) -> Result<()> {
        self.relay(relay)?;
        let (present, whole) = (self.shard_bits(present)?, self.shard_bits(whole)?);
        self.may[relay] = Some(self.may[relay].unwrap_or(0) | present | whole);
        self.has[relay] |= whole;
        Ok(())
    }

    /// Marks `relay` as unknown again (it failed a survey question after
    /// answering others).
    pub fn forget(&mut self, relay: usize) -> Result<()> {
        self.relay(relay)?;
        self.may[relay] = None;
        Ok(())
    }

    /// Restricts `relay` to the shards its placement record lists (a
    /// repair of a format-2 placement: `Placement::allowed`): it is never
    /// given another, whatever it answers.
    pub fn restrict(&mut self, relay: usize, shards: u16) -> Result<()> {
        self.relay(relay)?;
        let shards = self.shard_bits(shards)?;
        self.allowed[relay] &= shards;
        Ok(())
    }

    /// Whether `relay` may take `shard`: it is known, its record lists the
    /// shard, and with it the relay would hold fewer than `k` shards.
    pub fn allows(&self, relay: usize, shard: u8) -> Result<bool> {
        self.relay(relay)?;
        let bit = self.shard(shard)?;
        Ok(self.allowed[relay] & bit != 0
            && self.may[relay].is_some_and(|m| (m | bit).count_ones() < u32::from(self.k)))
    }

    /// At the end of a store, the record to seal in its placement: per
    /// relay, the shards it may hold (everything it was sent, answered or
    /// not), and for a relay sent nothing, `k − 1` shards (as many as it
    /// may hold), each the one the fewest relays may hold so far (the
    /// lowest such), so that a repair has somewhere to put each shard. `InvalidState` if a relay is unknown (not a store's bookkeeping).
    pub fn slots(&self) -> Result<Vec<u16>> {
        let mut out = self
            .may
            .iter()
            .map(|m| m.ok_or(Error::InvalidState("a relay's holdings are unknown")))
            .collect::<Result<Vec<u16>>>()?;
        for r in 0..out.len() {
            if out[r] != 0 {
                continue;
            }
            for _ in 1..self.k {
                let fewest = (0..self.n)
                    .filter(|&i| out[r] >> i & 1 == 0)
                    .min_by_key(|&i| (out.iter().filter(|m| *m >> i & 1 == 1).count(), i))
                    .unwrap_or(0);
                out[r] |= 1 << fewest;
            }
        }
        Ok(out)
    }

    /// Before a put of `shard` to `relay`: refuses (`InvalidState`) if the
    /// relay may not take it, else counts it as possibly held from now on,
    /// whether or not the put's answer ever comes.
    pub fn send(&mut self, relay: usize, shard: u8) -> Result<()> {
        if !self.allows(relay, shard)? {
            return Err(Error::InvalidState(
                "that relay would hold k or more shards of one section",
            ));
        }
        let bit = self.shard(shard)?;
        self.may[relay] = self.may[relay].map(|m| m | bit);
        Ok(())
    }

    /// `relay` acknowledged `shard` (its shard and its index): it holds it.
    pub fn stored(&mut self, relay: usize, shard: u8) -> Result<()> {
        self.relay(relay)?;
        let bit = self.shard(shard)?;
        if self.may[relay].is_none_or(|m| m & bit == 0) {
            return Err(Error::InvalidState("a shard acknowledged but never sent"));
        }
        self.has[relay] |= bit;
        Ok(())
    }

    /// The relay to send `shard` to next, if any: one [`Holders::allows`],
    /// not among `tried` (a bit per relay), holding the fewest other shards,
    /// then one already holding part of this shard, then the lowest index.
    pub fn target(&self, shard: u8, tried: u64) -> Result<Option<usize>> {
        let bit = self.shard(shard)?;
        let mut best: Option<(u32, bool, usize)> = None;
        for r in 0..self.may.len() {
            if tried >> r & 1 == 1 || !self.allows(r, shard)? {
                continue;
            }
            let m = self.may[r].unwrap_or(0);
            let key = ((m & !bit).count_ones(), m & bit == 0, r);
            if best.is_none_or(|b| key < b) {
                best = Some(key);
            }
        }
        Ok(best.map(|(_, _, r)| r))
    }

    /// Shards no relay is known to hold whole, ascending.
    pub fn missing(&self) -> Vec<u8> {
        let held = self.has.iter().fold(0u16, |a, h| a | h);
        (0..self.n).filter(|i| held >> i & 1 == 0).collect()
    }

    /// Distinct relays known to hold a whole shard (Tahoe's `happy` count).
    pub fn reached(&self) -> usize {
        self.has.iter().filter(|h| **h != 0).count()
    }

    /// Per relay, the shards it may hold (`None`: unknown).
    pub fn may_hold(&self) -> &[Option<u16>] {
        &self.may
    }

    /// Per relay, the shards it is known to hold whole.
    pub fn holds(&self) -> &[u16] {
        &self.has
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(not(target_arch = "wasm32"))]
    use proptest::prelude::*;

    #[test]
    fn a_failed_put_still_counts_and_the_spare_takes_the_shard() {
        let mut h = Holders::new(2, 3, 4).unwrap();
        for i in 0..3u8 {
            h.send(usize::from(i), i).unwrap();
        }
        h.stored(0, 0).unwrap();
        h.stored(1, 1).unwrap();
        // Relay 2's answer never came: it may hold shard 2, so only the
        // spare may take shard 2 again, and no relay may take another.
        assert_eq!(h.target(2, 1 << 2).unwrap(), Some(3));
        h.send(3, 2).unwrap();
        h.stored(3, 2).unwrap();
        assert_eq!(h.reached(), 3);
        assert!(h.missing().is_empty());
        // A shard may go again only to a relay holding it already.
        for i in [0u8, 1] {
            assert_eq!(h.target(i, 0).unwrap(), Some(usize::from(i)), "shard {i}");
            assert_eq!(h.target(i, 1 << i).unwrap(), None, "shard {i}");
        }
        assert!(h.send(2, 0).is_err());
    }

    #[test]
    fn a_relay_that_did_not_answer_gets_nothing() {
        let mut h = Holders::unknown(2, 3, 4).unwrap();
        h.observe(0, 0b001, 0b001).unwrap();
        h.observe(1, 0b010, 0b010).unwrap();
        h.observe(3, 0, 0).unwrap();
        assert_eq!(h.missing(), vec![2]);
        assert_eq!(h.target(2, 0).unwrap(), Some(3));
        assert_eq!(h.target(2, 1 << 3).unwrap(), None, "relay 2 is unknown");
        assert!(h.send(2, 2).is_err());
    }

    #[test]
    fn a_second_holder_of_a_shard_is_counted() {
        // Shard 2 was repaired onto relay 3 while relay 2 was down; relay 2
        // came back with it, and relay 0 lost shard 0. Relay 2 may not take
        // shard 0 (the rule before: only the first holder found counted).
        let mut h = Holders::unknown(2, 3, 4).unwrap();
        h.observe(0, 0, 0).unwrap();
        h.observe(1, 0b010, 0b010).unwrap();
        h.observe(2, 0b100, 0b100).unwrap();
        h.observe(3, 0b100, 0b100).unwrap();
        assert_eq!(h.missing(), vec![0]);
        assert_eq!(h.target(0, 0).unwrap(), Some(0));
        assert_eq!(h.target(0, 1).unwrap(), None);
    }

    #[test]
    fn a_partial_holder_of_the_same_shard_is_preferred() {
        let mut h = Holders::unknown(2, 3, 5).unwrap();
        h.observe(0, 0b001, 0b001).unwrap();
        h.observe(1, 0b010, 0b010).unwrap();
        h.observe(2, 0, 0).unwrap();
        h.observe(3, 0, 0).unwrap();
        // Relay 4 kept shard 2 but lost its index.
        h.observe(4, 0b100, 0).unwrap();
        assert_eq!(h.target(2, 0).unwrap(), Some(4));
        assert_eq!(h.target(2, 1 << 4).unwrap(), Some(2));
    }

    #[test]
    fn a_store_records_what_each_relay_may_hold() {
        let mut h = Holders::new(2, 3, 5).unwrap();
        for i in 0..3u8 {
            h.send(usize::from(i), i).unwrap();
        }
        // Relay 2 refused; shard 2 went to relay 3. Relay 4 got nothing.
        h.send(3, 2).unwrap();
        // Relay 2 keeps shard 2 in its record (its refusal may have
        // followed a stored shard); relay 4 may take shard 0 (every shard
        // has a holder, shard 2 has two).
        assert_eq!(h.slots().unwrap(), vec![0b001, 0b010, 0b100, 0b100, 0b001]);
        assert!(Holders::unknown(2, 3, 4).unwrap().slots().is_err());
        // 3 of 5 over 7: each of the two relays sent nothing may take two
        // shards, together four distinct ones.
        let mut h = Holders::new(3, 5, 7).unwrap();
        for i in 0..5u8 {
            h.send(usize::from(i), i).unwrap();
        }
        let slots = h.slots().unwrap();
        assert_eq!(slots[5..], [0b00011, 0b01100]);
    }

    #[test]
    fn a_relay_that_claims_nothing_gets_only_its_own_shard() {
        // Relay 3 was sent shard 2 and says it holds nothing; shard 0 is
        // lost. Without the record it would look like a spare for shard 0.
        let mut h = Holders::unknown(2, 3, 4).unwrap();
        h.observe(0, 0, 0).unwrap();
        h.observe(1, 0b010, 0b010).unwrap();
        h.observe(2, 0b100, 0b100).unwrap();
        h.observe(3, 0, 0).unwrap();
        assert_eq!(h.target(0, 1).unwrap(), Some(3));
        for (r, record) in [0b001u16, 0b010, 0b100, 0b100].into_iter().enumerate() {
            h.restrict(r, record).unwrap();
        }
        assert_eq!(h.target(0, 0).unwrap(), Some(0));
        assert_eq!(h.target(0, 1).unwrap(), None);
        assert!(h.send(3, 0).is_err());
        assert_eq!(h.target(2, 1 << 2).unwrap(), Some(3), "its own shard");
        assert!(h.restrict(0, 0b1000).is_err());
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(Holders::new(1, 3, 3).is_err());
        assert!(Holders::new(2, 2, 3).is_err());
        assert!(Holders::new(2, 3, 2).is_err());
        assert!(Holders::new(2, 17, 20).is_err());
        assert!(Holders::new(2, 3, 65).is_err());
        let mut h = Holders::new(2, 3, 3).unwrap();
        assert!(h.send(3, 0).is_err());
        assert!(h.send(0, 3).is_err());
        assert!(h.observe(0, 0b1000, 0).is_err());
        assert!(h.stored(0, 0).is_err(), "never sent");
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest! {
        /// Whatever a store and repairs send, answer and survey, no relay
        /// may ever hold k or more shards by what was sent to it plus what
        /// it said it holds.
        #[test]
        fn targets_never_break_the_invariant(
            k in 2u8..5,
            extra in 1u8..4,
            spare in 0usize..4,
            ops in proptest::collection::vec((0u8..16, 0u8..16, any::<bool>()), 0..40),
            lies in proptest::collection::vec(any::<u16>(), 0..8),
        ) {
            let n = k + extra;
            let relays = usize::from(n) + spare;
            let mut h = Holders::new(k, n, relays).unwrap();
            // What each relay really holds, if every put was stored.
            let mut real = vec![0u16; relays];
            for (shard, tried, ack) in ops {
                let shard = shard % n;
                if let Some(r) = h.target(shard, u64::from(tried)).unwrap() {
                    h.send(r, shard).unwrap();
                    real[r] |= 1 << shard;
                    if ack {
                        h.stored(r, shard).unwrap();
                    }
                }
                for bits in &real {
                    prop_assert!(bits.count_ones() < u32::from(k));
                }
            }
            // A repair after it: every relay answers what it likes (a
            // liar claims less than it keeps), each is restricted to its
            // record, and every repair put lands.
            let record = h.slots().unwrap();
            for (r, m) in record.iter().enumerate() {
                prop_assert!(*m != 0 && m.count_ones() < u32::from(k));
                prop_assert_eq!(real[r] & !m, 0, "a relay holds outside its record");
            }
            let mut repair = Holders::unknown(k, n, relays).unwrap();
            let all = ((1u32 << n) - 1) as u16;
            for r in 0..relays {
                let said = lies.get(r).copied().unwrap_or(real[r]) & all;
                repair.observe(r, said, said).unwrap();
                repair.restrict(r, record[r]).unwrap();
            }
            for shard in 0..n {
                while let Some(r) = repair.target(shard, 0).unwrap() {
                    if real[r] >> shard & 1 == 1 {
                        break;
                    }
                    repair.send(r, shard).unwrap();
                    real[r] |= 1 << shard;
                }
            }
            for (r, bits) in real.iter().enumerate() {
                prop_assert!(bits.count_ones() < u32::from(k), "relay {} holds {:b}", r, bits);
            }
        }
    }
}
