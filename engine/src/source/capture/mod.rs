//! Live capture through cpal (ALSA, PulseAudio or PipeWire): the audio callback
//! pushes into a lock-free SPSC ring, the DSP thread pulls from it here.
//!
//! ```text
//! driver thread:  cpal callback ──CallbackSink──► rtrb<f32> + rtrb<Mark>
//! DSP thread:     CaptureSource::read ◄─CaptureQueue─┘   (parks until unparked by the callback)
//! ```
//!
//! `CaptureSource` owns the device's life (open, stall, reopen); `CaptureQueue`
//! reads what the callback queued, cut at each fault the marks carry.

pub mod callback;
pub mod devices;
pub mod host_choice;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub mod libasound;
pub mod marks;
pub mod queue;
pub mod sound_server;
pub mod stream;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cpal::traits::StreamTrait;
use rtrb::{Consumer, RingBuffer};

use super::{Chunk, Source, SourceSpec};
use crate::error::EngineError;
use crate::log;
use crate::priority::Outcome;
use callback::{CallbackSink, CaptureShared, Mark};
use devices::{AudioHost, InputDevice};
use host_choice::HostChoice;
use queue::CaptureQueue;
use stream::DeviceFormat;
use v2m_ring::clock;

/// How to open the device.
#[derive(Clone, Copy, Debug)]
pub struct CaptureOptions {
    /// Ask the device for this rate instead of the ring rate.
    pub device_rate: Option<u32>,
    /// Ask the device for this many channels instead of mono.
    pub device_channels: Option<u16>,
    /// Audio the SPSC ring between callback and DSP thread holds, ms.
    pub buffer_ms: u32,
    /// Audio per device buffer (period), ms; 0: the driver's default; `None`:
    /// the host's default ([`AudioHost::default_period_ms`]).
    pub period_ms: Option<u32>,
    /// Raise the capture callback's thread to real-time priority.
    pub realtime: bool,
    /// The audio system to open the device through.
    pub host: HostChoice,
}

/// Audio the queue between the callback and the DSP thread holds by default, ms.
pub const DEFAULT_BUFFER_MS: u32 = 1000;

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            device_rate: None,
            device_channels: None,
            buffer_ms: DEFAULT_BUFFER_MS,
            period_ms: None,
            realtime: false,
            host: HostChoice::Auto,
        }
    }
}

/// Timestamp marks the SPSC side channel holds (one per device buffer).
const MARKS_CAPACITY: usize = 4096;
/// A live device that delivers nothing for this long is treated as failed
/// (some drivers, e.g. ALSA's PulseAudio plugin when the server dies, stall
/// instead of reporting an error).
const STALL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the DSP thread waits for the callback between two looks.
const WAIT_SLICE: Duration = Duration::from_millis(100);
/// The most one look counts towards [`STALL_TIMEOUT`]: a longer gap between
/// looks is time the engine did not run (stopped, or the machine stalled),
/// not time the device was silent.
const MAX_COUNTED_WAIT: Duration = Duration::from_millis(200);
/// Longest wait between reopen attempts of a failed device.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A running capture stream, read by the DSP thread.
pub struct CaptureSource {
    device: InputDevice,
    format: DeviceFormat,
    buffer_ms: u32,
    stream: Option<cpal::Stream>,
    queue: CaptureQueue,
    shared: Arc<CaptureShared>,
    restarted: bool,
    /// Waiting since samples were last available, as counted towards [`STALL_TIMEOUT`].
    waited: Duration,
    /// CLOCK_MONOTONIC ns of the last look for samples.
    last_look_ns: u64,
    stop: Arc<AtomicBool>,
}

impl CaptureSource {
    /// Opens `spec` (default or device:NAME) and starts capturing.
    pub fn open(
        spec: &SourceSpec,
        ring_rate: u32,
        options: CaptureOptions,
        stop: Arc<AtomicBool>,
    ) -> Result<CaptureSource, EngineError> {
        let host = options.host.resolve();
        let device = match spec {
            SourceSpec::Device(pattern) => match devices::find_device(pattern, host) {
                // `auto` chose the host; a name the user knows from ALSA still works.
                Err(_) if options.host == HostChoice::Auto && host != AudioHost::Alsa => {
                    devices::find_device(pattern, AudioHost::Alsa)?
                }
                found => found?,
            },
            _ => devices::default_device(host)?,
        };
        let strict = options.device_rate.is_some() || options.device_channels.is_some();
        let (rate, channels) =
            (options.device_rate.unwrap_or(ring_rate), options.device_channels.unwrap_or(1));
        let period_ms = options.period_ms.unwrap_or(device.host.default_period_ms());
        let format = if device.host == AudioHost::PipeWire {
            stream::pipewire_format(&device.device, rate, channels, period_ms)
        } else {
            stream::choose_format(&device.device, rate, channels, strict, period_ms)?
        };
        let shared = Arc::new(CaptureShared::default());
        shared.raise_priority.store(options.realtime, Ordering::Relaxed);
        let (stream, samples, marks) = start(&device, format, options.buffer_ms, &shared).map_err(|e| {
            EngineError::BadInput(format!(
                "cannot open capture device '{}' ({}): {e}; run `v2m-engine devices` to list devices",
                device.name, device.id
            ))
        })?;
        log::info!(
            "capturing from '{}' ({}) through {} at {} Hz, {} channel(s), {}, {} frames per buffer",
            device.name,
            device.id,
            device.host,
            format.rate,
            format.channels,
            format.sample_format,
            format.buffer_frames.map_or("default".to_string(), |n| n.to_string())
        );
        Ok(CaptureSource {
            device,
            format,
            buffer_ms: options.buffer_ms,
            stream: Some(stream),
            queue: CaptureQueue::new(samples, marks, usize::from(format.channels), format.rate),
            shared,
            restarted: false,
            waited: Duration::ZERO,
            last_look_ns: clock::monotonic_ns(),
            stop,
        })
    }

    /// The device delivered: the stall count starts again.
    fn heard_from_device(&mut self) {
        (self.waited, self.last_look_ns) = (Duration::ZERO, clock::monotonic_ns());
    }

    /// Counts the time since the last look towards [`STALL_TIMEOUT`]; true
    /// once the device has been silent that long.
    fn stalled(&mut self) -> bool {
        let now = clock::monotonic_ns();
        let since_last_look = Duration::from_nanos(now.saturating_sub(self.last_look_ns));
        self.last_look_ns = now;
        self.waited += since_last_look.min(MAX_COUNTED_WAIT);
        self.waited > STALL_TIMEOUT
    }

    /// Replaces a failed stream, retrying with backoff until it opens or
    /// `stop` is raised. The ring stays open meanwhile.
    fn reopen(&mut self, why: &str) {
        retire(self.stream.take());
        log::warning!("capture device '{}' {why}; reopening", self.device.name);
        let mut backoff = Duration::from_millis(100);
        while !self.stop.load(Ordering::Relaxed) {
            self.shared.failed.store(false, Ordering::Relaxed);
            match start(&self.device, self.format, self.buffer_ms, &self.shared) {
                Ok((stream, samples, marks)) => {
                    log::info!("capture device '{}' reopened", self.device.name);
                    self.stream = Some(stream);
                    self.queue.next_stream(samples, marks);
                    self.restarted = true;
                    self.heard_from_device();
                    return;
                }
                Err(e) => log::warning!(
                    "cannot reopen '{}': {e}; retrying in {} ms",
                    self.device.name,
                    backoff.as_millis()
                ),
            }
            let until = clock::monotonic_ns() + backoff.as_nanos() as u64;
            while !self.stop.load(Ordering::Relaxed) && clock::monotonic_ns() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// Drops a stream on a thread of its own: a stream whose driver is stuck can
/// block in its destructor, and the DSP thread must never wait for it.
pub fn retire(stream: Option<cpal::Stream>) {
    if let Some(stream) = stream {
        let _ = std::thread::Builder::new().name("v2m-retire".into()).spawn(move || drop(stream));
    }
}

impl Drop for CaptureSource {
    fn drop(&mut self) {
        retire(self.stream.take());
    }
}

/// Builds the SPSC rings and the stream, and starts it.
fn start(
    device: &InputDevice,
    format: DeviceFormat,
    buffer_ms: u32,
    shared: &Arc<CaptureShared>,
) -> Result<(cpal::Stream, Consumer<f32>, Consumer<Mark>), cpal::Error> {
    let channels = usize::from(format.channels);
    let frames = (u64::from(format.rate) * u64::from(buffer_ms) / 1000).max(1024) as usize;
    let (samples_in, samples_out) = RingBuffer::new(frames * channels);
    let (marks_in, marks_out) = RingBuffer::new(MARKS_CAPACITY);
    let sink = CallbackSink::new(samples_in, marks_in, channels, Arc::clone(shared), std::thread::current());
    let stream = stream::build(&device.device, format, sink, Arc::clone(shared))?;
    stream.play()?;
    Ok((stream, samples_out, marks_out))
}

impl Source for CaptureSource {
    fn rate(&self) -> u32 {
        self.format.rate
    }

    fn channels(&self) -> usize {
        usize::from(self.format.channels)
    }

    fn is_live(&self) -> bool {
        true
    }

    fn callback_priority(&self) -> Option<Outcome> {
        self.shared.priority.get()
    }

    fn arrival_ns(&self, position: u64) -> Option<u64> {
        self.queue.arrival_ns(position)
    }

    fn read(&mut self, out: &mut [f32]) -> Result<Chunk, EngineError> {
        loop {
            if self.shared.failed.load(Ordering::Acquire) {
                self.reopen("failed");
            }
            if let Some(chunk) = self.queue.read(out) {
                self.heard_from_device();
                return Ok(Chunk { restarted: std::mem::take(&mut self.restarted), ..chunk });
            }
            if self.stop.load(Ordering::Relaxed) {
                return Ok(Chunk::default());
            }
            if self.stalled() {
                self.reopen("delivered nothing for 2 s");
                continue;
            }
            // The callback unparks us after every buffer; the timeout only
            // bounds how late a stop or a failure is noticed.
            std::thread::park_timeout(WAIT_SLICE);
        }
    }
}
