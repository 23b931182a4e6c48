//! The atomics the shared structures are built from: std's, or loom's when the
//! crate is compiled with `--cfg loom`, so the loom model in
//! `tests/loom_seqlock.rs` exercises the shipped protocol rather than a copy
//! (the same shim crossbeam-utils keeps in its `primitive` module).

#[cfg(loom)]
pub use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
