//! Signal processing between a source and the ring: pick or mix channels,
//! resample, cut frames, measure levels. Everything here works in preallocated buffers.

pub mod channels;
pub mod downmix;
pub mod framer;
pub mod level;
pub mod pipeline;
pub mod resample;
