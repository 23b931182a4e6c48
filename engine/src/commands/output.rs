//! Standard output for the printing commands: a reader that went away (`| head`,
//! a closed pipe) ends the command quietly instead of panicking.

use std::io::{ErrorKind, Write};

use crate::error::EngineError;

/// Writes `text` to stdout and flushes; a closed stdout is [`EngineError::OutputClosed`].
pub fn print(text: &str) -> Result<(), EngineError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| match e.kind() {
        ErrorKind::BrokenPipe => EngineError::OutputClosed,
        _ => EngineError::system("writing to standard output", e),
    })
}

/// [`print`] with a newline.
pub fn println(text: &str) -> Result<(), EngineError> {
    print(&format!("{text}\n"))
}
