//! What can stop a bridge command, each with the exit code it ends with.

use std::fmt;

use v2m_ring::RingError;

/// Why a bridge command failed.
#[derive(Debug)]
pub enum BridgeError {
    /// The command line or a configuration file is wrong: the text says what to change.
    Usage(String),
    /// A local ring could not be read or written.
    Ring(RingError),
    /// The Zenoh session or one of its declarations failed.
    Network(String),
}

impl BridgeError {
    /// The process's exit code: 2 for a wrong request, 1 for a failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            BridgeError::Usage(_) => 2,
            BridgeError::Ring(_) | BridgeError::Network(_) => 1,
        }
    }
}

impl fmt::Display for BridgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BridgeError::Usage(text) | BridgeError::Network(text) => f.write_str(text),
            BridgeError::Ring(error) => write!(f, "{error}"),
        }
    }
}

impl From<RingError> for BridgeError {
    fn from(error: RingError) -> BridgeError {
        BridgeError::Ring(error)
    }
}

/// A Zenoh call's error as a [`BridgeError::Network`] saying what was being done.
pub fn network(what: &str) -> impl FnOnce(zenoh::Error) -> BridgeError + '_ {
    move |error| BridgeError::Network(format!("{what}: {error}"))
}
