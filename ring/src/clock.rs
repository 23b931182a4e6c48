//! CLOCK_MONOTONIC time, the clock every timestamp in the ring uses.

use nix::sys::time::TimeSpec;
use nix::time::{clock_gettime, clock_nanosleep, ClockId, ClockNanosleepFlags};

/// Nanoseconds on CLOCK_MONOTONIC (the clock Python's `time.monotonic_ns` reads).
pub fn monotonic_ns() -> u64 {
    timespec_ns(clock_gettime(ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC is always available"))
}

/// Nanoseconds on CLOCK_REALTIME, for display only.
pub fn realtime_ns() -> u64 {
    timespec_ns(clock_gettime(ClockId::CLOCK_REALTIME).expect("CLOCK_REALTIME is always available"))
}

/// This host's CLOCK_REALTIME − CLOCK_MONOTONIC in ns: what places its stamps on
/// a wall clock another host shares (the header's `source_clock_offset_ns`).
pub fn realtime_offset_ns() -> i64 {
    realtime_ns() as i64 - monotonic_ns() as i64
}

fn timespec_ns(t: TimeSpec) -> u64 {
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

/// Sleeps until CLOCK_MONOTONIC reaches `deadline_ns`, or a signal arrives.
///
/// An absolute deadline means pacing never drifts: a late wake-up shortens
/// the next sleep instead of delaying every later frame.
pub fn sleep_until(deadline_ns: u64) {
    let ts = TimeSpec::new((deadline_ns / 1_000_000_000) as _, (deadline_ns % 1_000_000_000) as _);
    // EINTR (a signal) is the only expected error; the caller re-checks its
    // stop flag and deadline either way.
    let _ = clock_nanosleep(ClockId::CLOCK_MONOTONIC, ClockNanosleepFlags::TIMER_ABSTIME, &ts);
}
