//! v2m-engine: the sidecar that captures audio, runs VAD, and publishes every
//! frame into a lock-free shared-memory ring for pure-Python readers.
//!
//! Data flows one way: `cli` → `commands` → stages (`source` → `dsp` → `vad`
//! → `publish`) → `ring` → `shm` → the `v2m-layout` crate.

#[cfg(test)]
mod alloc_counter;
mod cli;
mod commands;
mod dsp;
mod error;
mod log;
mod pacing;
mod priority;
mod publish;
mod signals;
mod source;
mod vad;

use std::time::Duration;

use clap::Parser;

use cli::{Cli, Command};
use commands::{bench_dsp, bench_vad, check_headers, devices, layout, list, run, status};
use error::EngineError;

/// How long the engine waits for its last messages to reach stderr.
const LOG_FLUSH_TIMEOUT: Duration = Duration::from_millis(500);

fn main() {
    let cli = Cli::parse();
    log::show_up_to(cli.log_level());
    log::start();
    let result = match &cli.command {
        Command::Run(args) => args.config().and_then(|config| {
            let signals = signals::install()?;
            if args.die_with_parent {
                die_with_parent()?;
            }
            run::run(&config, signals)
        }),
        Command::Devices { json, host } => devices::devices(*json, *host),
        Command::List { json, clean } => list::list(*json, *clean),
        Command::Status { name, json, watch, interval } => {
            status::status(name, *json, watch.then(|| Duration::from_secs_f64(*interval)))
        }
        Command::BenchVad(args) => bench_vad::bench_vad(&args.config()),
        Command::BenchDsp(args) => bench_dsp::bench_dsp(&args.config()),
        Command::Layout => layout::layout(),
        Command::CheckHeaders => check_headers::check_headers(),
        Command::Flags => cli::reference::print(),
    };
    let code = match result {
        Ok(()) => 0,
        Err(error) => {
            if !matches!(error, EngineError::OutputClosed) {
                log::error!("{error}");
            }
            error.exit_code()
        }
    };
    log::flush(LOG_FLUSH_TIMEOUT);
    std::process::exit(code);
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
