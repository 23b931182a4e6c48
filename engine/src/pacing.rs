//! Replays a file or synthetic source at a steady speed from the monotonic
//! clock, and dates each frame's first sample.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::cli::Speed;
use crate::clock;

/// Frame timing for non-live sources.
pub struct Pacer {
    start_ns: u64,
    /// Wall-clock ns per ring sample at the chosen speed; None: as fast as possible.
    ns_per_sample: Option<f64>,
}

impl Pacer {
    /// Starts the clock now.
    pub fn new(speed: Speed, rate: u32) -> Pacer {
        let ns_per_sample = match speed {
            Speed::Max => None,
            Speed::Factor(f) => Some(1e9 / (f64::from(rate) * f)),
        };
        Pacer {
            start_ns: clock::monotonic_ns(),
            ns_per_sample,
        }
    }

    /// When the sample at `position` is due: paced sources deliver sample `n`
    /// at `start + n / (rate × speed)`; at max speed, now.
    pub fn time_of(&self, position: u64) -> u64 {
        match self.ns_per_sample {
            Some(ns) => self.start_ns + (position as f64 * ns) as u64,
            None => clock::monotonic_ns(),
        }
    }

    /// Waits until the sample at `position` is due (absolute deadlines, so
    /// no drift), returning early if `stop` is raised.
    pub fn wait_for(&self, position: u64, stop: &AtomicBool) {
        if self.ns_per_sample.is_none() {
            return;
        }
        let deadline = self.time_of(position);
        while !stop.load(Ordering::Relaxed) && clock::monotonic_ns() < deadline {
            clock::sleep_until(deadline);
        }
    }
}
