//! Engine messages on stderr: one prefix, one verbosity chosen once from
//! `-q`/`-v`, and writes that can never stop the engine. Messages go through a
//! bounded queue to a thread of their own, so a stderr nobody reads (a full
//! pipe) cannot block the DSP thread and a closed one cannot kill the engine:
//! either only loses messages, which are counted. The audio callback never logs.

use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::OnceLock;
use std::time::Duration;

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

enum Message {
    Line(String),
    Flush(SyncSender<()>),
}

/// Messages waiting for the writer thread.
const QUEUE_LINES: usize = 256;
static QUEUE: OnceLock<SyncSender<Message>> = OnceLock::new();
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Starts the thread that writes messages to stderr; before it runs (or if
/// it cannot start) messages are written directly.
///
/// The thread writes to its own duplicate of stderr: device probing points
/// file descriptor 2 at /dev/null for a moment to hide ALSA plugin noise, and
/// a message written meanwhile must still reach the user.
pub fn start() {
    // The ring library (v2m-ring) speaks through the `log` facade: its messages
    // take the same path as the engine's own.
    if ::log::set_logger(&FACADE).is_ok() {
        ::log::set_max_level(::log::LevelFilter::Debug);
    }
    let Ok(stderr_copy) = nix::unistd::dup(std::io::stderr()) else {
        return;
    };
    let mut sink = std::fs::File::from(stderr_copy);
    let (queue, lines) = sync_channel::<Message>(QUEUE_LINES);
    let started = std::thread::Builder::new().name("v2m-log".into()).spawn(move || {
        let mut emit = |line: &str| {
            let _ = sink.write_all(line.as_bytes());
        };
        for message in lines {
            match message {
                Message::Line(line) => emit(&line),
                Message::Flush(done) => {
                    let dropped = DROPPED.swap(0, Ordering::Relaxed);
                    if dropped > 0 {
                        emit(&format!(
                            "v2m-engine: warning: {dropped} messages were dropped (stderr was not read)\n"
                        ));
                    }
                    let _ = done.send(());
                }
            }
        }
    });
    if started.is_ok() {
        let _ = QUEUE.set(queue);
    }
}

/// The `log` facade's messages, into [`write`].
struct Facade;

static FACADE: Facade = Facade;

impl ::log::Log for Facade {
    fn enabled(&self, metadata: &::log::Metadata<'_>) -> bool {
        enabled(facade_level(metadata))
    }

    fn log(&self, record: &::log::Record<'_>) {
        write(facade_level(record.metadata()), *record.args());
    }

    fn flush(&self) {}
}

/// Our own crates speak at their level; a library's messages are details (`-v`): the
/// PulseAudio client, say, reports a "Client disconnected" error for every stream the
/// engine retires on purpose, which would read as a failure that never happened.
fn facade_level(metadata: &::log::Metadata<'_>) -> Level {
    match metadata.target().starts_with("v2m") {
        true => level_of(metadata.level()),
        false => Level::Debug,
    }
}

fn level_of(level: ::log::Level) -> Level {
    match level {
        ::log::Level::Error => Level::Error,
        ::log::Level::Warn => Level::Warn,
        ::log::Level::Info => Level::Info,
        ::log::Level::Debug | ::log::Level::Trace => Level::Debug,
    }
}

fn write_to_stderr(line: &str) {
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Writes one message line: queued, or dropped and counted when the queue is full.
pub fn write(level: Level, message: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let prefix = match level {
        Level::Error => "v2m-engine: error: ",
        Level::Warn => "v2m-engine: warning: ",
        Level::Info | Level::Debug => "v2m-engine: ",
    };
    let line = format!("{prefix}{message}\n");
    match QUEUE.get() {
        Some(queue) => {
            if queue.try_send(Message::Line(line)).is_err() {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
        None => write_to_stderr(&line),
    }
}

/// Waits (at most `timeout`) until every queued message is written: before
/// the process exits.
pub fn flush(timeout: Duration) {
    if let Some(queue) = QUEUE.get() {
        let (done, written) = sync_channel(1);
        if queue.try_send(Message::Flush(done)).is_ok() {
            let _ = written.recv_timeout(timeout);
        }
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
