//! `v2m-bench-producer`: the producer of the latency suite's Unix-socket peer.
//!
//! Listens on a `SOCK_SEQPACKET` socket, waits for `--readers` consumers to
//! connect, then sends `--frames` frames at a fixed cadence from absolute
//! CLOCK_MONOTONIC deadlines (no drift) and a final end marker. A frame is one
//! datagram: index (u64 LE), publish time (CLOCK_MONOTONIC ns, u64 LE, read
//! just before the first send), 512 f32 LE samples. Sends never block: a
//! consumer whose socket buffer is full loses that frame (as a slow v2m reader
//! loses the oldest frames), and sees the gap in the indices.
//!
//! ```text
//! v2m-bench-producer --path /tmp/x.sock --readers 2 --cadence-us 1000 --frames 3000
//! ```

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::ExitCode;

use nix::errno::Errno;
use nix::sys::socket::{
    accept, bind, listen, send, socket, AddressFamily, Backlog, MsgFlags, SockFlag, SockType, UnixAddr,
};
use nix::sys::time::TimeSpec;
use nix::time::{clock_gettime, clock_nanosleep, ClockId, ClockNanosleepFlags};

/// Samples per frame: 32 ms at 16 kHz.
const SAMPLES: usize = 512;
/// Index of the end marker.
const END: u64 = u64::MAX;

struct Options {
    path: String,
    readers: usize,
    cadence_ns: u64,
    frames: u64,
}

fn parse() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let (mut path, mut readers, mut cadence_us, mut frames) = (None, 1usize, 32_000u64, 100u64);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || value.parse::<u64>().map_err(|_| format!("{flag}: '{value}' is not a whole number"));
        match flag.as_str() {
            "--path" => path = Some(value.clone()),
            "--readers" => readers = number()? as usize,
            "--cadence-us" => cadence_us = number()?,
            "--frames" => frames = number()?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    let path = path.ok_or("--path is needed")?;
    if readers == 0 || cadence_us == 0 {
        return Err("--readers and --cadence-us must be positive".into());
    }
    Ok(Options { path, readers, cadence_ns: cadence_us * 1000, frames })
}

fn now_ns() -> u64 {
    let t = clock_gettime(ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC is always available");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

fn sleep_until(deadline_ns: u64) {
    let ts = TimeSpec::new((deadline_ns / 1_000_000_000) as _, (deadline_ns % 1_000_000_000) as _);
    while now_ns() < deadline_ns {
        let _ = clock_nanosleep(ClockId::CLOCK_MONOTONIC, ClockNanosleepFlags::TIMER_ABSTIME, &ts);
    }
}

fn run(o: &Options) -> Result<(), String> {
    let fail = |what: &str, e: Errno| format!("{what}: {e}");
    let listener = socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| fail("socket", e))?;
    let _ = std::fs::remove_file(&o.path);
    let address = UnixAddr::new(o.path.as_str()).map_err(|e| fail("address", e))?;
    bind(listener.as_raw_fd(), &address).map_err(|e| fail("bind", e))?;
    listen(&listener, Backlog::new(64).map_err(|e| fail("listen", e))?).map_err(|e| fail("listen", e))?;
    println!("ready");
    let mut readers: Vec<Option<OwnedFd>> = Vec::with_capacity(o.readers);
    for _ in 0..o.readers {
        let fd = accept(listener.as_raw_fd()).map_err(|e| fail("accept", e))?;
        // SAFETY: accept returned a new descriptor that nothing else owns.
        readers.push(Some(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }));
    }
    let mut frame = vec![0u8; 16 + SAMPLES * 4];
    let start = now_ns() + 10_000_000;
    for index in 0..=o.frames {
        let marker = if index == o.frames { END } else { index };
        if marker != END {
            sleep_until(start + index * o.cadence_ns);
            for (k, chunk) in frame[16..].chunks_exact_mut(4).enumerate() {
                let value = ((index as usize * SAMPLES + k) % (1 << 24)) as f32 / (1 << 24) as f32;
                chunk.copy_from_slice(&value.to_le_bytes());
            }
        }
        frame[..8].copy_from_slice(&marker.to_le_bytes());
        frame[8..16].copy_from_slice(&now_ns().to_le_bytes());
        for slot in readers.iter_mut() {
            let Some(fd) = slot else { continue };
            // The end marker waits for room; frames never do.
            let flags = if marker == END { MsgFlags::empty() } else { MsgFlags::MSG_DONTWAIT };
            match send(fd.as_raw_fd(), &frame, flags | MsgFlags::MSG_NOSIGNAL) {
                Ok(_) | Err(Errno::EAGAIN) => {}
                Err(_) => *slot = None, // the consumer went away
            }
        }
    }
    let _ = std::fs::remove_file(&o.path);
    Ok(())
}

fn main() -> ExitCode {
    match parse().and_then(|o| run(&o)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("v2m-bench-producer: {why}");
            ExitCode::from(2)
        }
    }
}
