//! The deterministic RNG of the known-answer vectors, the in-memory world and
//! the fuzz fixture: SHA-256 in counter mode, so the same label gives the
//! same bytes on every run and every machine.

use sha2::{Digest, Sha256};

/// A deterministic CSPRNG for known-answer tests: SHA-256 in counter mode.
pub struct TestRng {
    seed: [u8; 32],
    counter: u64,
    buf: Vec<u8>,
    /// Bytes handed out before the stream's.
    queued: std::collections::VecDeque<u8>,
}

impl TestRng {
    /// The stream of `label`: block `j` is `SHA-256(SHA-256(label) ‖ u64(j))`.
    pub fn new(label: &str) -> TestRng {
        TestRng {
            seed: Sha256::digest(label.as_bytes()).into(),
            counter: 0,
            buf: Vec::new(),
            queued: Default::default(),
        }
    }

    /// The stream of `label` after `bytes`: the first draws take exactly
    /// these (to re-make an object whose random fields are known, or to make
    /// one with a chosen grant id or nonce).
    pub fn starting_with(bytes: &[u8], label: &str) -> TestRng {
        let mut rng = TestRng::new(label);
        rng.queued.extend(bytes);
        rng
    }
}

impl rand_core::TryRng for TestRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for byte in dst {
            if let Some(b) = self.queued.pop_front() {
                *byte = b;
                continue;
            }
            if self.buf.is_empty() {
                let mut h = Sha256::new();
                h.update(self.seed);
                h.update(self.counter.to_be_bytes());
                self.counter += 1;
                self.buf = h.finalize().to_vec();
            }
            *byte = self.buf.remove(0);
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for TestRng {}
