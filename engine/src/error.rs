//! Errors the engine reports to its user, each with what to do about it.

use std::fmt;
use std::io;

use v2m_ring::RingError;

/// Everything that stops the engine before or while it runs.
#[derive(Debug)]
pub enum EngineError {
    /// A command-line value or input file is wrong; exit code 2.
    BadInput(String),
    /// The ring: its name taken by a live engine or by something else (exit
    /// code 2), missing, unreadable, or a system call on it failed (exit code 1).
    Ring(RingError),
    /// Standard output was closed by its reader (`| head`): the command ends
    /// quietly, exit code 0.
    OutputClosed,
    /// An operating-system call failed; exit code 1.
    System {
        /// What the engine was doing.
        what: String,
        /// The error the kernel returned.
        error: io::Error,
    },
}

impl EngineError {
    /// The process exit code for this error: 2 for input the user must fix.
    pub fn exit_code(&self) -> i32 {
        match self {
            EngineError::BadInput(_)
            | EngineError::Ring(RingError::InUse { .. } | RingError::InTheWay { .. }) => 2,
            EngineError::OutputClosed => 0,
            _ => 1,
        }
    }

    /// Wraps an OS error with what the engine was doing when it happened.
    pub fn system(what: impl Into<String>, error: impl Into<io::Error>) -> EngineError {
        EngineError::System { what: what.into(), error: error.into() }
    }
}

impl From<RingError> for EngineError {
    fn from(error: RingError) -> EngineError {
        EngineError::Ring(error)
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::BadInput(why) => write!(f, "{why}"),
            EngineError::Ring(error) => write!(f, "{error}"),
            EngineError::OutputClosed => write!(f, "standard output was closed"),
            EngineError::System { what, error } => write!(f, "{what}: {error}"),
        }
    }
}

impl std::error::Error for EngineError {}
