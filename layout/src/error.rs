//! Why a segment cannot be read as a ring, for readers and for the writer's own
//! checks alike.

use std::fmt;

use crate::protocol::VERSION_MAJOR;

/// Why a segment cannot be read as a version-1 ring.
#[derive(Debug, Clone, PartialEq)]
pub enum LayoutError {
    /// The first eight bytes are not `MAGIC`: not a v2m ring.
    BadMagic,
    /// A major version this crate does not read.
    UnsupportedVersion {
        /// The segment's major version.
        major: u16,
        /// The segment's minor version.
        minor: u16,
    },
    /// The segment is smaller than its header says it is.
    Truncated {
        /// Bytes the header requires.
        needed: u64,
        /// Bytes the file has.
        actual: u64,
    },
    /// A field is out of range or sections overlap.
    Invalid(String),
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::BadMagic => write!(f, "not a v2m ring (bad magic)"),
            LayoutError::UnsupportedVersion { major, minor } => write!(
                f,
                "ring layout version {major}.{minor} is not supported (this build reads {VERSION_MAJOR}.x); \
                 use matching versions of the engine and its readers"
            ),
            LayoutError::Truncated { needed, actual } => {
                write!(f, "ring is truncated: the header needs {needed} bytes but the segment has {actual}")
            }
            LayoutError::Invalid(why) => write!(f, "ring header is inconsistent: {why}"),
        }
    }
}

impl std::error::Error for LayoutError {}
