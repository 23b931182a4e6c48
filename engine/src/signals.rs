//! The engine's signal handling: which signals stop it, which it ignores,
//! and when a repeated stop signal means "now".

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGALRM, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};

use crate::error::EngineError;
use v2m_ring::clock;

/// The flags the engine's signal handlers raise.
#[derive(Clone, Debug)]
pub struct Signals {
    /// Close the ring and exit (SIGINT, SIGTERM, SIGHUP, SIGQUIT).
    pub stop: Arc<AtomicBool>,
    /// Log a status line (SIGUSR1).
    pub report: Arc<AtomicBool>,
}

/// Signals that close the ring cleanly (the terminal closing sends HUP).
const STOP_SIGNALS: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];
/// Signals nothing in the engine uses: ignored, so a stray one cannot kill
/// the engine and leave its ring stale.
const IGNORED_SIGNALS: [i32; 2] = [SIGUSR2, SIGALRM];
/// Stop signals this soon after the first are the same request: `timeout`
/// signals the child and then its process group, a terminal's Ctrl-C reaches
/// a wrapper that forwards it too. Only a later one ends the engine at once
/// (someone pressing Ctrl-C again because shutdown hangs).
const REPEAT_GRACE_NS: u64 = 1_000_000_000;
/// Exit code of an engine ended by a repeated stop signal.
const FORCED_EXIT_CODE: i32 = 1;

/// Installs the signal handlers: the stop signals raise a flag the pipeline
/// checks between frames (and that interrupts its sleeps), so the ring is
/// always closed and unlinked cleanly; SIGUSR1 asks for a status line on stderr.
pub fn install() -> Result<Signals, EngineError> {
    let signals =
        Signals { stop: Arc::new(AtomicBool::new(false)), report: Arc::new(AtomicBool::new(false)) };
    let failed = |e| EngineError::system("installing signal handlers", e);
    let first_stop_ns = Arc::new(AtomicU64::new(0));
    for signal in STOP_SIGNALS {
        let stop = Arc::clone(&signals.stop);
        let first_stop_ns = Arc::clone(&first_stop_ns);
        let on_stop = move || {
            if is_late_repeat(&first_stop_ns, clock::monotonic_ns()) {
                signal_hook::low_level::exit(FORCED_EXIT_CODE);
            }
            stop.store(true, Ordering::SeqCst);
        };
        // SAFETY: the handler only reads CLOCK_MONOTONIC (clock_gettime is
        // async-signal-safe and cannot fail for that clock), touches atomics,
        // and may call `_exit`: nothing that allocates, locks or unwinds.
        unsafe { signal_hook::low_level::register(signal, on_stop) }.map_err(failed)?;
    }
    signal_hook::flag::register(SIGUSR1, Arc::clone(&signals.report)).map_err(failed)?;
    let ignored = Arc::new(AtomicBool::new(false));
    for signal in IGNORED_SIGNALS {
        signal_hook::flag::register(signal, Arc::clone(&ignored)).map_err(failed)?;
    }
    Ok(signals)
}

/// Records the first stop signal's time; true for a stop signal that comes
/// more than `REPEAT_GRACE_NS` after it.
fn is_late_repeat(first_stop_ns: &AtomicU64, now_ns: u64) -> bool {
    // Monotonic time is never 0 once the system is up; 0 means "none yet".
    match first_stop_ns.compare_exchange(0, now_ns.max(1), Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => false,
        Err(first) => now_ns.saturating_sub(first) > REPEAT_GRACE_NS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_stop_and_quick_repeats_are_one_request() {
        let first = AtomicU64::new(0);
        assert!(!is_late_repeat(&first, 5_000_000_000));
        assert!(!is_late_repeat(&first, 5_000_000_010), "a duplicate delivery");
        assert!(!is_late_repeat(&first, 5_000_000_000 + REPEAT_GRACE_NS));
    }

    #[test]
    fn a_stop_signal_after_the_grace_forces_the_exit() {
        let first = AtomicU64::new(0);
        assert!(!is_late_repeat(&first, 5_000_000_000));
        assert!(is_late_repeat(&first, 5_000_000_001 + REPEAT_GRACE_NS));
    }
}
