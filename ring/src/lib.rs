//! The v2m frame ring on Linux, for every process that writes or reads one in
//! Rust: the engine, and the bridge that carries rings between machines.
//!
//! - [`shm`]: the segment file in `/dev/shm`, created private and published
//!   atomically; the liveness locks; what dead engines leave behind; the pacing
//!   readers' cursors; the futex.
//! - [`writer::RingWriter`]: the one writer of a ring. Publishing is wait-free
//!   (a bounded number of stores and one `FUTEX_WAKE`), never allocates and
//!   never waits for a reader; when full it overwrites the oldest slot.
//! - [`reader::RingReader`]: a reader that maps a ring read-only and takes each
//!   frame under the slot seqlock (`v2m_layout::seqlock`), counting every frame
//!   it was lapped by; the same checks as the Python reader.
//!
//! `layout/LAYOUT.md` is the specification; messages go through the `log`
//! facade.

pub mod clock;
mod error;
pub mod reader;
pub mod shm;
pub mod writer;

pub use error::RingError;
pub use reader::RingReader;
pub use writer::RingWriter;
