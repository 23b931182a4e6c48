//! v2m-engine: the sidecar that captures audio, runs VAD, and publishes every
//! frame into a lock-free shared-memory ring for pure-Python readers.
//!
//! Data flows one way: `cli` → `commands` → stages (`source` → `dsp` → `vad`
//! → `publish`) → `ring` → `shm` → the `v2m-layout` crate.

#[cfg(test)]
mod alloc_counter;
mod cli;
mod clock;
mod commands;
mod dsp;
mod error;
mod log;
mod pacing;
mod publish;
mod ring;
mod shm;
mod source;
mod vad;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;

use cli::{Cli, Command};
use commands::{bench_vad, devices, layout, run, status};
use error::EngineError;

fn main() {
    let cli = Cli::parse();
    log::show_up_to(cli.log_level());
    let result = match &cli.command {
        Command::Run(args) => args.config().and_then(|config| {
            let stop = install_stop_signals()?;
            if args.die_with_parent {
                die_with_parent()?;
            }
            run::run(&config, stop)
        }),
        Command::Devices { json } => devices::devices(*json),
        Command::Status { name, json } => status::status(name, *json),
        Command::BenchVad(args) => bench_vad::bench_vad(&args.config()),
        Command::Layout => layout::layout(),
    };
    if let Err(error) = result {
        if !matches!(error, EngineError::OutputClosed) {
            log::error!("{error}");
        }
        std::process::exit(error.exit_code());
    }
}

/// Asks the kernel to send SIGTERM (a clean shutdown) when the parent dies.
fn die_with_parent() -> Result<(), EngineError> {
    let parent = nix::unistd::getppid();
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
        .map_err(|e| EngineError::system("asking to die with the parent (PR_SET_PDEATHSIG)", e))?;
    // The parent may have died before the request took effect.
    if nix::unistd::getppid() != parent {
        return Err(EngineError::system(
            "starting",
            std::io::Error::other("the parent process has already exited"),
        ));
    }
    Ok(())
}

/// SIGINT and SIGTERM raise a flag the pipeline checks between frames (and
/// interrupt its sleeps), so the ring is always closed and unlinked cleanly.
fn install_stop_signals() -> Result<Arc<AtomicBool>, EngineError> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| EngineError::system("installing signal handlers", e))?;
    }
    Ok(stop)
}
