//! The arm choice (pure): which arm answers a request, and whether a
//! shadow copy goes to the challenger.
//!
//! With a routing key and a sticky trial, the key is hashed with the trial
//! id (FNV-1a 64 then the SplitMix64 finaliser, stable across builds and
//! platforms) to a u64 h, and the challenger answers iff h < w·2⁶⁴. The
//! same key gets the same arm for the trial's life, and raising w only
//! moves keys from champion to challenger (the threshold only grows).
//! Without a key (or in a non-sticky trial) a seeded RNG decides.

use std::sync::atomic::{AtomicU64, Ordering};

/// Which side of a trial answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arm {
    Champion,
    Challenger,
}

impl Arm {
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Champion => "champion",
            Arm::Challenger => "challenger",
        }
    }

    /// Parses a debug pin (`x-joust-arm` metadata).
    pub fn parse_pin(s: &str) -> Option<Arm> {
        match s.trim() {
            "champion" => Some(Arm::Champion),
            "challenger" => Some(Arm::Challenger),
            _ => None,
        }
    }
}

/// The stable 64-bit hash of a routing key within a trial.
pub fn key_hash(trial_id: u64, key: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for b in trial_id.to_le_bytes().iter().chain(key) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(PRIME);
    }
    splitmix64(h)
}

fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// True when `h` falls in the challenger's share `weight` of the u64 range.
pub fn in_share(h: u64, weight: f64) -> bool {
    if weight.is_nan() || weight <= 0.0 {
        return false;
    }
    if weight >= 1.0 {
        return true;
    }
    // weight·2⁶⁴ as an exclusive threshold; the product is < 2⁶⁴ here.
    let threshold = (weight * 18_446_744_073_709_551_616.0) as u64;
    h < threshold
}

/// A lock-free seeded RNG shared by every request thread: SplitMix64 over
/// an atomic counter (one `fetch_add` per draw, no lock, no allocation).
/// Seeded, a single-threaded sequence is reproducible; across threads
/// each draw still takes a distinct counter value.
#[derive(Debug)]
pub struct SharedRng {
    state: AtomicU64,
}

impl SharedRng {
    const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

    pub fn seeded(seed: u64) -> Self {
        Self {
            state: AtomicU64::new(splitmix64(seed)),
        }
    }

    pub fn next_u64(&self) -> u64 {
        let s = self
            .state
            .fetch_add(Self::GAMMA, Ordering::Relaxed)
            .wrapping_add(Self::GAMMA);
        splitmix64(s)
    }

    /// Uniform in `0..n` (`n` > 0; multiply-shift, bias below 2⁻³²
    /// for the pool sizes used here).
    pub fn below(&self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// Chooses arms; owns the RNG for unkeyed requests (lock-free, shared).
#[derive(Debug)]
pub struct Chooser {
    rng: SharedRng,
}

impl Chooser {
    pub fn seeded(seed: u64) -> Self {
        Self {
            rng: SharedRng::seeded(seed),
        }
    }

    /// The arm for a split-mode request: the pin if any, else the key hash
    /// (sticky trials), else the RNG.
    pub fn split(
        &self,
        trial_id: u64,
        weight: f64,
        sticky: bool,
        key: Option<&[u8]>,
        pin: Option<Arm>,
    ) -> Arm {
        if let Some(p) = pin {
            return p;
        }
        let h = match key {
            Some(k) if sticky => key_hash(trial_id, k),
            _ => self.rng.next_u64(),
        };
        if in_share(h, weight) {
            Arm::Challenger
        } else {
            Arm::Champion
        }
    }

    /// Whether a shadow-mode request is copied to the challenger.
    pub fn shadow(&self, sampling: f64) -> bool {
        in_share(self.rng.next_u64(), sampling)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn keys() -> impl Iterator<Item = String> {
        (0..10_000).map(|i| format!("customer-{i}"))
    }

    #[test]
    fn ten_thousand_keys_at_a_fifth_split_within_binomial_tolerance() {
        let c = Chooser::seeded(1);
        let n = keys()
            .filter(|k| c.split(7, 0.2, true, Some(k.as_bytes()), None) == Arm::Challenger)
            .count() as f64;
        // mean 2000, sd √(10000·0.2·0.8) = 40; 4 sd.
        assert!((n - 2000.0).abs() < 160.0, "challenger share {n}");
    }

    #[test]
    fn a_key_always_gets_the_same_arm() {
        let c = Chooser::seeded(2);
        for k in keys().take(500) {
            let first = c.split(7, 0.2, true, Some(k.as_bytes()), None);
            for _ in 0..5 {
                assert_eq!(c.split(7, 0.2, true, Some(k.as_bytes()), None), first);
            }
        }
    }

    #[test]
    fn raising_the_weight_moves_no_key_back_to_the_champion() {
        let c = Chooser::seeded(3);
        let (mut moved, mut stayed) = (0, 0);
        for k in keys() {
            let a = c.split(7, 0.2, true, Some(k.as_bytes()), None);
            let b = c.split(7, 0.5, true, Some(k.as_bytes()), None);
            assert!(
                !(a == Arm::Challenger && b == Arm::Champion),
                "{k} moved back"
            );
            if a != b {
                moved += 1;
            } else {
                stayed += 1;
            }
        }
        assert!(
            moved > 2500 && stayed > 6500,
            "moved {moved}, stayed {stayed}"
        );
    }

    #[test]
    fn pins_and_edges() {
        let c = Chooser::seeded(4);
        assert_eq!(
            c.split(1, 0.0, true, None, Some(Arm::Challenger)),
            Arm::Challenger
        );
        assert_eq!(c.split(1, 1.0, true, Some(b"k"), None), Arm::Challenger);
        assert_eq!(c.split(1, 0.0, true, Some(b"k"), None), Arm::Champion);
        assert_eq!(Arm::parse_pin("challenger"), Some(Arm::Challenger));
        assert_eq!(Arm::parse_pin("other"), None);
        assert!(!in_share(u64::MAX, 0.999_999));
        assert!(!c.shadow(0.0) && c.shadow(1.0));
    }

    #[test]
    fn unkeyed_requests_split_by_the_seeded_rng() {
        let c = Chooser::seeded(5);
        let n = (0..10_000)
            .filter(|_| c.split(1, 0.2, true, None, None) == Arm::Challenger)
            .count() as f64;
        assert!((n - 2000.0).abs() < 160.0, "{n}");
        let a = Chooser::seeded(9);
        let b = Chooser::seeded(9);
        for _ in 0..100 {
            assert_eq!(
                a.split(1, 0.5, false, Some(b"k"), None),
                b.split(1, 0.5, false, Some(b"k"), None)
            );
        }
    }

    #[test]
    fn the_hash_is_stable() {
        // Pinned so that a change of hash (which would reshuffle every
        // running trial) fails the build's tests.
        // Reference: the same FNV-1a + SplitMix64 computed in Python.
        assert_eq!(key_hash(1, b"customer-1"), 0x6a25_5923_12b2_7732);
        assert_ne!(key_hash(1, b"customer-1"), key_hash(2, b"customer-1"));
    }
}
