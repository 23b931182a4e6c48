//! The futex the writer wakes readers with, and readers wait on, in shared memory.

use std::sync::atomic::AtomicU32;

/// Wakes every process waiting in `FUTEX_WAIT` on `word`.
///
/// The futex is *shared* (no `FUTEX_PRIVATE_FLAG`) because the waiters are
/// other processes mapping the same segment. A wake that finds no waiter
/// costs one syscall (~0.5 µs) and never blocks.
pub fn wake_all(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE only reads the address to find the wait queue; the
    // word lives in our mapping for as long as `word` is borrowed. The
    // unused timeout/uaddr2/val3 arguments are ignored for FUTEX_WAKE.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Waits in `FUTEX_WAIT` on `word` while it holds `expected`, for at most
/// `timeout` (a wake, a signal or a changed word end it early; returns either
/// way, and the caller looks again).
pub fn wait(word: &AtomicU32, expected: u32, timeout: std::time::Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: FUTEX_WAIT reads the word at this address, which lives in our mapping
    // for as long as `word` is borrowed; `ts` outlives the call; uaddr2 and val3 are
    // ignored for FUTEX_WAIT. A shared (not private) futex: the waker is another process.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}
