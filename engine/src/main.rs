//! v2m-engine: the sidecar that captures audio, runs VAD, and publishes every
//! frame into a lock-free shared-memory ring for pure-Python readers.

#[cfg(test)]
mod alloc_counter;
mod bench_vad;
mod capture;
mod cli;
mod clock;
mod dsp;
mod error;
mod pacing;
mod ring;
mod run;
mod shm;
mod source;
mod status;
mod vad;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;

use cli::{Cli, Command};
use error::EngineError;

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run(args) => install_stop_signals()
            .and_then(|stop| if args.die_with_parent { die_with_parent().map(|_| stop) } else { Ok(stop) })
            .and_then(|stop| run::run(args, stop)),
        Command::Devices { json } => capture::devices::print_devices(*json),
        Command::Status { name, json } => status::status(name, *json),
        Command::BenchVad(args) => bench_vad::bench_vad(args),
        Command::Layout => {
            status::layout_json();
            Ok(())
        }
    };
    if let Err(error) = result {
        eprintln!("v2m-engine: error: {error}");
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
