//! v2m-bridge: carries v2m rings between hosts over Zenoh.
//!
//! Data flows one way: `cli` → a command (`publish`: `v2m_ring::RingReader` →
//! `wire` → Zenoh, the last frames kept in `recent` for resend queries; `mirror`:
//! Zenoh → `wire` → `mirror_ring` (gaps waited for in its `holdback`) →
//! `v2m_ring::RingWriter`; `list`) over a `session`. `layout/LAYOUT.md` §7 says what a mirror's header holds.

mod cli;
mod error;
mod holdback;
mod keys;
mod list;
mod log;
mod mirror;
mod mirror_ring;
mod publish;
mod recent;
mod session;
mod wire;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};

use cli::{Cli, Command};
use error::BridgeError;

fn main() {
    let cli = Cli::parse();
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => ::log::LevelFilter::Error,
        (false, 0) => ::log::LevelFilter::Info,
        (false, _) => ::log::LevelFilter::Debug,
    };
    log::start(level, cli.verbose >= 2, cli.command.session().uses_defaults());
    let result = stop_flag().and_then(|stop| match &cli.command {
        Command::Publish(args) => publish::run(args, &stop),
        Command::Mirror(args) => mirror::run(args, &stop),
        Command::List(args) => list::run(args),
    });
    if let Err(error) = result {
        ::log::error!("{error}");
        std::process::exit(error.exit_code());
    }
}

/// A flag the stop signals raise; the commands check it between messages, so their
/// rings are always closed and unlinked and their sessions closed.
fn stop_flag() -> Result<Arc<AtomicBool>, BridgeError> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| BridgeError::Usage(format!("installing the signal handlers: {e}")))?;
    }
    Ok(stop)
}
