//! Engine messages on stderr: one prefix, one verbosity chosen once from
//! `-q`/`-v`, and writes that can never stop the engine (a closed or full
//! stderr loses the message, nothing else). The audio callback never logs.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

/// How much the engine says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Errors that end the engine.
    Error = 0,
    /// Something went wrong and the engine carries on (a device reopened).
    Warn = 1,
    /// What the engine is doing (the ring it created, the device it opened).
    Info = 2,
    /// Details for finding a problem.
    Debug = 3,
}

static SHOWN: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Shows messages up to `level` from now on.
pub fn show_up_to(level: Level) {
    SHOWN.store(level as u8, Ordering::Relaxed);
}

/// Whether messages of `level` are shown.
pub fn enabled(level: Level) -> bool {
    level as u8 <= SHOWN.load(Ordering::Relaxed)
}

/// Writes one message line, ignoring every write error.
pub fn write(level: Level, message: std::fmt::Arguments<'_>) {
    if enabled(level) {
        let prefix = match level {
            Level::Error => "v2m-engine: error: ",
            Level::Warn => "v2m-engine: warning: ",
            Level::Info | Level::Debug => "v2m-engine: ",
        };
        let _ = writeln!(std::io::stderr().lock(), "{prefix}{message}");
    }
}

/// Logs at [`Level::Error`].
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Error, format_args!($($arg)*)) };
}
/// Logs at [`Level::Warn`].
macro_rules! warning {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Warn, format_args!($($arg)*)) };
}
/// Logs at [`Level::Info`].
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($arg)*)) };
}
/// Logs at [`Level::Debug`].
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Debug, format_args!($($arg)*)) };
}
pub(crate) use {debug, error, info, warning};
