//! Errors the engine reports to its user, each with what to do about it.

use std::fmt;
use std::io;

/// Everything that stops the engine before or while it runs.
#[derive(Debug)]
pub enum EngineError {
    /// A command-line value or input file is wrong; exit code 2.
    BadInput(String),
    /// Another live engine owns the ring name; exit code 2.
    InUse {
        /// The ring name.
        name: String,
        /// The owner's pid as its header records it.
        pid: u32,
    },
    /// Something that is not this user's v2m ring sits at the ring's name (a
    /// FIFO, a directory, a link, another user's file); exit code 2.
    InTheWay {
        /// The path.
        path: String,
        /// What is there, e.g. "is a FIFO, not a ring".
        what: String,
    },
    /// No segment exists under that name; exit code 1.
    NoRing {
        /// The ring name.
        name: String,
    },
    /// The segment exists but is not a readable ring; exit code 1.
    Layout {
        /// The ring name.
        name: String,
        /// What is wrong with it.
        error: v2m_layout::LayoutError,
    },
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
            EngineError::BadInput(_) | EngineError::InUse { .. } | EngineError::InTheWay { .. } => 2,
            EngineError::OutputClosed => 0,
            _ => 1,
        }
    }

    /// Wraps an OS error with what the engine was doing when it happened.
    pub fn system(what: impl Into<String>, error: impl Into<io::Error>) -> EngineError {
        EngineError::System { what: what.into(), error: error.into() }
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::BadInput(why) => write!(f, "{why}"),
            EngineError::InUse { name, pid } => write!(
                f,
                "ring '{name}' is in use by a running engine (pid {pid}); stop it or pick another --name"
            ),
            EngineError::NoRing { name } => write!(
                f,
                "no ring named '{name}' (/dev/shm/v2m-{name}); start one with `v2m-engine run --name {name}`"
            ),
            EngineError::Layout { name, error } => write!(f, "ring '{name}': {error}"),
            EngineError::OutputClosed => write!(f, "standard output was closed"),
            EngineError::InTheWay { path, what } => write!(
                f,
                "{path} {what}; the engine leaves it alone: remove it yourself (rm {path}) or pick another --name"
            ),
            EngineError::System { what, error } => write!(f, "{what}: {error}"),
        }
    }
}

impl std::error::Error for EngineError {}
