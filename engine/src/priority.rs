//! Scheduling priority for the two threads every frame passes through: the
//! capture callback and the DSP thread (resample, VAD, publish).
//!
//! On a busy machine a woken thread waits for its turn on a CPU; a real-time
//! thread (`SCHED_FIFO`) does not. Raising needs permission: root,
//! `CAP_SYS_NICE` (`setcap cap_sys_nice+ep v2m-engine`), or an `RLIMIT_RTPRIO`
//! above zero (`@audio - rtprio 20` in `/etc/security/limits.conf`, then log in
//! again as a member of `audio`). Without it the thread tries a nice level,
//! and otherwise runs as before; the engine says which in one log line.
//!
//! Raising is a single `sched_setscheduler`/`setpriority` system call on the
//! calling thread: no allocation, no lock (glibc's `pthread_setschedparam`
//! takes the thread's lock, so it is not used), so the audio callback may do
//! it on its first buffer. `SCHED_RESET_ON_FORK` keeps children (none today)
//! from inheriting it. The kernel's real-time throttling (95 % of each second
//! by default) bounds what a runaway real-time thread can take.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

/// What the user asked for (`--priority`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriorityChoice {
    /// Real-time where permitted, else a nice level, else unchanged.
    Realtime,
    /// Leave the scheduler alone.
    Normal,
}

impl FromStr for PriorityChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "realtime" => Ok(PriorityChoice::Realtime),
            "normal" => Ok(PriorityChoice::Normal),
            other => Err(format!("'{other}' is not a priority; use realtime or normal")),
        }
    }
}

impl fmt::Display for PriorityChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PriorityChoice::Realtime => "realtime",
            PriorityChoice::Normal => "normal",
        })
    }
}

/// `SCHED_FIFO` priority of the DSP thread: above ordinary real-time helpers
/// (rtkit grants up to 20 by default), below the kernel's threaded IRQs (50).
pub const DSP_PRIORITY: i32 = 10;
/// The capture callback's: above the DSP thread, which it feeds.
pub const CALLBACK_PRIORITY: i32 = 11;
/// The nice level tried when real-time is not permitted.
pub const NICE_LEVEL: i32 = -10;

const SCHED_RESET_ON_FORK: i32 = 0x4000_0000;

/// What a thread got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `SCHED_FIFO` at this priority.
    Realtime(i32),
    /// Normal scheduling at this nice level.
    Nice(i32),
    /// Neither was permitted (the errno of the real-time attempt).
    Unchanged(i32),
}

impl Outcome {
    fn code(self) -> u8 {
        match self {
            Outcome::Realtime(_) => 1,
            Outcome::Nice(_) => 2,
            Outcome::Unchanged(_) => 3,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Realtime(p) => write!(f, "SCHED_FIFO {p}"),
            Outcome::Nice(n) => write!(f, "nice {n}"),
            Outcome::Unchanged(errno) => {
                write!(f, "normal priority ({})", std::io::Error::from_raw_os_error(*errno))
            }
        }
    }
}

/// Raises the calling thread to `SCHED_FIFO` at `priority`, else to
/// [`NICE_LEVEL`]. Real-time safe: two system calls at most, nothing else.
pub fn raise_current_thread(priority: i32) -> Outcome {
    let param = libc::sched_param { sched_priority: priority };
    // SAFETY: sched_setscheduler with pid 0 changes only the calling thread;
    // `param` is a valid sched_param for the duration of the call.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO | SCHED_RESET_ON_FORK, &param) } == 0 {
        return Outcome::Realtime(priority);
    }
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
    // SAFETY: setpriority on this thread's own id (Linux applies PRIO_PROCESS
    // with a thread id to that thread only).
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, NICE_LEVEL) } == 0 {
        return Outcome::Nice(NICE_LEVEL);
    }
    Outcome::Unchanged(errno)
}

/// An [`Outcome`] one thread (the audio callback) leaves for another to
/// report: the callback must not log.
#[derive(Debug, Default)]
pub struct OutcomeCell {
    code: AtomicU8,
    value: std::sync::atomic::AtomicI32,
}

impl OutcomeCell {
    /// Stores `outcome` (real-time safe: two atomic stores).
    pub fn set(&self, outcome: Outcome) {
        let value = match outcome {
            Outcome::Realtime(v) | Outcome::Nice(v) | Outcome::Unchanged(v) => v,
        };
        self.value.store(value, Ordering::Relaxed);
        self.code.store(outcome.code(), Ordering::Release);
    }

    /// The stored outcome, once there is one.
    pub fn get(&self) -> Option<Outcome> {
        let code = self.code.load(Ordering::Acquire);
        let value = self.value.load(Ordering::Relaxed);
        match code {
            1 => Some(Outcome::Realtime(value)),
            2 => Some(Outcome::Nice(value)),
            3 => Some(Outcome::Unchanged(value)),
            _ => None,
        }
    }
}

/// The one log line: what the DSP thread and the capture callback (when
/// there is one) got, and how to permit real-time when they did not.
pub fn describe(dsp: Outcome, callback: Option<Outcome>) -> String {
    let threads = match callback {
        Some(cb) => format!("DSP thread {dsp}, capture callback {cb}"),
        None => format!("DSP thread {dsp}"),
    };
    let all_realtime =
        matches!(dsp, Outcome::Realtime(_)) && callback.is_none_or(|c| matches!(c, Outcome::Realtime(_)));
    if all_realtime {
        format!("priority: {threads}")
    } else {
        format!(
            "priority: {threads}; real-time scheduling was not permitted (grant it with rtkit, \
             an rtprio limit in /etc/security/limits.conf, or `setcap cap_sys_nice+ep` on the engine; \
             --priority normal silences this)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outcome_crosses_threads_intact() {
        let cell = OutcomeCell::default();
        assert_eq!(cell.get(), None);
        for outcome in [Outcome::Realtime(11), Outcome::Nice(-10), Outcome::Unchanged(libc::EPERM)] {
            cell.set(outcome);
            assert_eq!(cell.get(), Some(outcome));
        }
    }

    #[test]
    fn the_log_line_says_how_to_permit_what_was_refused() {
        let refused = describe(Outcome::Nice(-10), Some(Outcome::Unchanged(libc::EPERM)));
        assert!(refused.contains("nice -10") && refused.contains("limits.conf"), "{refused}");
        let granted = describe(Outcome::Realtime(10), Some(Outcome::Realtime(11)));
        assert_eq!(granted, "priority: DSP thread SCHED_FIFO 10, capture callback SCHED_FIFO 11");
    }
}
