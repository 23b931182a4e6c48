//! When each frame's first sample was captured, and (for replayed sources)
//! when each frame is due.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use v2m_ring::clock;

/// How fast a file or synthetic source is replayed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// As fast as the engine can go.
    Max,
    /// This many times real time (1.0 is real time), within [`Speed::FACTORS`].
    Factor(f64),
}

impl Speed {
    /// Replay factors the engine accepts: slower than 1/100 or faster than
    /// 1000× real time is not a pace but a mistake (`max` is there for "as fast
    /// as possible"), and the frame deadlines stay far from overflowing.
    pub const FACTORS: std::ops::RangeInclusive<f64> = 0.01..=1000.0;

    /// The speed the header records: the factor, 0 for `Max`.
    pub fn header_value(self) -> f32 {
        match self {
            Speed::Max => 0.0,
            Speed::Factor(f) => f as f32,
        }
    }
}

impl FromStr for Speed {
    type Err = String;

    /// `realtime`, `max`, or a factor such as `4`.
    fn from_str(text: &str) -> Result<Speed, String> {
        match text {
            "realtime" => Ok(Speed::Factor(1.0)),
            "max" => Ok(Speed::Max),
            _ => match text.parse::<f64>() {
                Ok(f) if Speed::FACTORS.contains(&f) => Ok(Speed::Factor(f)),
                _ => Err(format!(
                    "speed must be realtime, max, or a factor from {} to {} (e.g. 4)",
                    Speed::FACTORS.start(),
                    Speed::FACTORS.end()
                )),
            },
        }
    }
}

impl fmt::Display for Speed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Speed::Max => write!(f, "max"),
            Speed::Factor(x) => write!(f, "{x}x"),
        }
    }
}

/// Frame timing: paced by the engine for files and synthetic sources, taken
/// from the device for live capture.
pub enum FrameClock {
    /// Replayed at a fixed speed from a start time.
    Paced {
        /// CLOCK_MONOTONIC ns of ring sample 0.
        start_ns: u64,
        /// Wall-clock ns per ring sample; None: as fast as possible.
        ns_per_sample: Option<f64>,
    },
    /// Live: the latest (source position, capture time) the device reported.
    Live {
        /// Source sample frames per ring sample.
        source_per_ring: f64,
        /// Source rate, Hz.
        source_rate: f64,
        /// Source position of the anchor.
        anchor_position: u64,
        /// Capture time of the anchor.
        anchor_ns: u64,
    },
}

impl FrameClock {
    /// A clock for a replayed source, starting now.
    pub fn paced(speed: Speed, ring_rate: u32) -> FrameClock {
        let ns_per_sample = match speed {
            Speed::Max => None,
            Speed::Factor(f) => Some(1e9 / (f64::from(ring_rate) * f)),
        };
        FrameClock::Paced { start_ns: clock::monotonic_ns(), ns_per_sample }
    }

    /// A clock for a live source at `source_rate` feeding a `ring_rate` ring.
    pub fn live(source_rate: u32, ring_rate: u32) -> FrameClock {
        FrameClock::Live {
            source_per_ring: f64::from(source_rate) / f64::from(ring_rate),
            source_rate: f64::from(source_rate),
            anchor_position: 0,
            anchor_ns: clock::monotonic_ns(),
        }
    }

    /// Records that the source frame at `position` was captured at `capture_ns`.
    pub fn anchor(&mut self, position: u64, capture_ns: u64) {
        if let FrameClock::Live { anchor_position, anchor_ns, .. } = self {
            (*anchor_position, *anchor_ns) = (position, capture_ns);
        }
    }

    /// Capture time of ring sample `position`. The resampler's delay is
    /// already removed, so ring sample `p` is source time `p / ring_rate`.
    pub fn capture_ns(&self, position: u64) -> u64 {
        match *self {
            FrameClock::Paced { start_ns, ns_per_sample: Some(ns) } => {
                start_ns + (position as f64 * ns) as u64
            }
            FrameClock::Paced { ns_per_sample: None, .. } => clock::monotonic_ns(),
            FrameClock::Live { source_per_ring, source_rate, anchor_position, anchor_ns } => {
                let source_position = position as f64 * source_per_ring;
                let offset_ns = (source_position - anchor_position as f64) * 1e9 / source_rate;
                (anchor_ns as f64 + offset_ns).max(0.0) as u64
            }
        }
    }

    /// When ring sample `position` is due from a paced source (now, at max
    /// speed or for a live source, whose arrivals the device reports).
    pub fn due_ns(&self, position: u64) -> u64 {
        match self {
            FrameClock::Paced { ns_per_sample: Some(_), .. } => self.capture_ns(position),
            _ => clock::monotonic_ns(),
        }
    }

    /// For a paced source, waits until ring sample `position` is due
    /// (absolute deadlines: no drift), returning early if `stop` is raised.
    pub fn wait_for(&self, position: u64, stop: &AtomicBool) {
        if let FrameClock::Paced { ns_per_sample: Some(_), .. } = self {
            let deadline = self.capture_ns(position);
            while !stop.load(Ordering::Relaxed) && clock::monotonic_ns() < deadline {
                clock::sleep_until(deadline);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_times_follow_the_latest_anchor_through_the_rate_change() {
        let mut clock = FrameClock::live(48_000, 16_000);
        clock.anchor(48_000, 5_000_000_000);
        // Ring sample 16000 is source frame 48000: exactly the anchor.
        assert_eq!(clock.capture_ns(16_000), 5_000_000_000);
        // 512 ring samples later is 32 ms later.
        assert_eq!(clock.capture_ns(16_512), 5_032_000_000);
    }

    #[test]
    fn speeds_parse_within_bounds() {
        assert_eq!("realtime".parse::<Speed>(), Ok(Speed::Factor(1.0)));
        assert_eq!("max".parse::<Speed>(), Ok(Speed::Max));
        assert_eq!("4".parse::<Speed>(), Ok(Speed::Factor(4.0)));
        for bad in ["1e-12", "0", "-1", "1e9", "inf", "NaN", "fast"] {
            assert!(bad.parse::<Speed>().is_err(), "{bad}");
        }
    }

    #[test]
    fn paced_times_advance_at_the_replay_speed() {
        let clock = FrameClock::paced(Speed::Factor(2.0), 16_000);
        let FrameClock::Paced { start_ns, .. } = clock else { unreachable!() };
        assert_eq!(clock.capture_ns(16_000), start_ns + 500_000_000);
    }
}
