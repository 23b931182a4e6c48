//! The Linux-specific half of the ring: the segment file in /dev/shm, its
//! liveness locks, what dead engines leave behind, and the futex the writer
//! wakes readers with.

pub mod cursors;
pub mod futex;
pub mod inspect;
pub mod name;
pub mod removal;
pub mod segment;
pub mod stale;
pub mod writer_lock;

pub use name::RingName;
pub use segment::Segment;
