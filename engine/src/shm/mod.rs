//! The Linux-specific half of the ring: the segment file in /dev/shm, its
//! liveness lock, and the futex the writer wakes readers with.

pub mod futex;
pub mod segment;

pub use segment::{RingName, Segment};
