//! The writer side of the shared-memory frame ring.

pub mod writer;

pub use writer::RingWriter;
