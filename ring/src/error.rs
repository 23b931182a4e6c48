//! What can go wrong with a ring, each with what to do about it.

use std::fmt;
use std::io;

/// Why a ring could not be created, opened or read.
#[derive(Debug)]
pub enum RingError {
    /// Another live engine owns the ring name.
    InUse {
        /// The ring name.
        name: String,
        /// The owner's pid as its header records it.
        pid: u32,
    },
    /// Something that is not this user's v2m ring sits at a path the ring
    /// needs (a FIFO, a directory, a link, another user's file).
    InTheWay {
        /// The path.
        path: String,
        /// What is there, e.g. "is a FIFO, not a ring".
        what: String,
    },
    /// No segment exists under that name.
    NoRing {
        /// The ring name.
        name: String,
    },
    /// The segment exists but is not a readable ring.
    Layout {
        /// The ring name.
        name: String,
        /// What is wrong with it.
        error: v2m_layout::LayoutError,
    },
    /// An operating-system call failed.
    System {
        /// What was being done.
        what: String,
        /// The error the kernel returned.
        error: io::Error,
    },
}

impl RingError {
    /// Wraps an OS error with what was being done when it happened.
    pub fn system(what: impl Into<String>, error: impl Into<io::Error>) -> RingError {
        RingError::System { what: what.into(), error: error.into() }
    }
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::InUse { name, pid } => write!(
                f,
                "ring '{name}' is in use by a running engine (pid {pid}); stop it or pick another --name"
            ),
            RingError::NoRing { name } => write!(
                f,
                "no ring named '{name}' (/dev/shm/v2m-{name}); start one with `v2m-engine run --name {name}`"
            ),
            RingError::Layout { name, error } => write!(f, "ring '{name}': {error}"),
            RingError::InTheWay { path, what } => write!(
                f,
                "{path} {what}; it is left alone: remove it yourself (rm {path}) or pick another --name"
            ),
            RingError::System { what, error } => write!(f, "{what}: {error}"),
        }
    }
}

impl std::error::Error for RingError {}
