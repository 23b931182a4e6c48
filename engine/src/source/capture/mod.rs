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
pub mod source_watch;
pub mod stream;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cpal::traits::StreamTrait;
use cpal::SampleFormat;
use rtrb::{Consumer, RingBuffer};

use super::{Chunk, Source, SourceSpec};
use crate::error::EngineError;
use crate::log;
use crate::priority::Outcome;
use callback::{CallbackSink, CaptureShared, Mark};
use devices::{AudioHost, InputDevice};
use host_choice::HostChoice;
use queue::CaptureQueue;
use source_watch::{SourceWatch, Watched};
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
    /// A device that is not there yet is waited for (the ring opens meanwhile)
    /// instead of being an error.
    pub wait_for_device: bool,
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
            wait_for_device: false,
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
/// Longest wait between attempts to open a device that failed or is not there yet.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Which device `--source` means, found anew at every (re)open: a USB
/// microphone plugged back in may come back under another card number, and
/// `default` may have become another source.
struct DeviceQuery {
    spec: SourceSpec,
    host: AudioHost,
    choice: HostChoice,
}

impl DeviceQuery {
    fn find(&self) -> Result<InputDevice, EngineError> {
        match &self.spec {
            SourceSpec::Device(pattern) => match devices::find_device(pattern, self.host) {
                // `auto` chose the host; a name the user knows from ALSA still works.
                Err(_) if self.choice == HostChoice::Auto && self.host != AudioHost::Alsa => {
                    devices::find_device(pattern, AudioHost::Alsa)
                }
                found => found,
            },
            _ => devices::default_device(self.host),
        }
    }
}

/// A running capture stream, read by the DSP thread.
pub struct CaptureSource {
    query: DeviceQuery,
    /// The device the stream is open on ('name' (id)), or what is awaited.
    device_label: String,
    /// The host of the device the stream is open on.
    device_host: AudioHost,
    /// Rate and channels are fixed for the engine's life (the DSP chain is
    /// built for them); the sample format and buffer size are the device's.
    format: DeviceFormat,
    options: CaptureOptions,
    stream: Option<cpal::Stream>,
    queue: CaptureQueue,
    shared: Arc<CaptureShared>,
    restarted: bool,
    /// Waiting since samples were last available, as counted towards [`STALL_TIMEOUT`].
    waited: Duration,
    /// CLOCK_MONOTONIC ns of the last look for samples.
    last_look_ns: u64,
    stop: Arc<AtomicBool>,
    /// Through PulseAudio: the thread that notices the stream's source is no
    /// longer the one `--source` means (see [`source_watch`]).
    source_watch: Option<SourceWatch>,
}

impl CaptureSource {
    /// Opens `spec` (default or device:NAME) and starts capturing; with
    /// `wait_for_device`, a device that is not there yet is waited for in
    /// `read`, at `device_rate`/`device_channels` (the ring's rate, mono, when
    /// not given), so the ring's format is known before the device is.
    pub fn open(
        spec: &SourceSpec,
        ring_rate: u32,
        options: CaptureOptions,
        stop: Arc<AtomicBool>,
    ) -> Result<CaptureSource, EngineError> {
        let host = options.host.resolve();
        let query = DeviceQuery { spec: spec.clone(), host, choice: options.host };
        let strict = options.device_rate.is_some() || options.device_channels.is_some();
        let (rate, channels) =
            (options.device_rate.unwrap_or(ring_rate), options.device_channels.unwrap_or(1));
        let shared = Arc::new(CaptureShared::default());
        shared.raise_priority.store(options.realtime, Ordering::Relaxed);
        let (device, format) = match query.find().and_then(|device| {
            let format = device_format(&device, rate, channels, strict, options.period_ms)?;
            Ok((device, format))
        }) {
            Ok(found) => found,
            Err(why) if options.wait_for_device => {
                log::info!(
                    "waiting for capture device {spec} through {host} ({why}); the ring opens meanwhile"
                );
                let awaited =
                    DeviceFormat { rate, channels, sample_format: SampleFormat::F32, buffer_frames: None };
                let mut source = CaptureSource::new(query, awaited, options, shared, stop);
                source.device_label = spec.to_string();
                return Ok(source);
            }
            Err(why) => return Err(why),
        };
        let (stream, samples, marks) = start(&device, format, options.buffer_ms, &shared).map_err(|e| {
            EngineError::BadInput(format!(
                "cannot open capture device '{}' ({}): {e}; run `v2m-engine devices` to list devices",
                device.name, device.id
            ))
        })?;
        let mut source = CaptureSource::new(query, format, options, shared, stop);
        source.queue.next_stream(samples, marks);
        source.opened(&device, format, stream);
        Ok(source)
    }

    /// A source with no stream yet, for a device of `format`'s rate and channels.
    fn new(
        query: DeviceQuery,
        format: DeviceFormat,
        options: CaptureOptions,
        shared: Arc<CaptureShared>,
        stop: Arc<AtomicBool>,
    ) -> CaptureSource {
        // Queues that stay empty until a stream opens (`CaptureQueue::next_stream`).
        let (_, samples) = RingBuffer::new(1);
        let (_, marks) = RingBuffer::new(1);
        CaptureSource {
            device_label: String::new(),
            device_host: query.host,
            query,
            queue: CaptureQueue::new(samples, marks, usize::from(format.channels), format.rate),
            format,
            options,
            stream: None,
            shared,
            restarted: false,
            waited: Duration::ZERO,
            last_look_ns: clock::monotonic_ns(),
            stop,
            source_watch: None,
        }
    }

    /// Takes a stream that just started on `device`: says so, and watches the
    /// default source where the host will not follow it by itself.
    fn opened(&mut self, device: &InputDevice, format: DeviceFormat, stream: cpal::Stream) {
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
        self.device_label = format!("'{}' ({})", device.name, device.id);
        self.device_host = device.host;
        self.format = format;
        self.stream = Some(stream);
        self.heard_from_device();
        if device.host == AudioHost::PulseAudio {
            let watched = match self.query.spec {
                SourceSpec::Default => Watched::Default,
                _ => Watched::Present,
            };
            self.source_watch = SourceWatch::start(&device.device, watched, Arc::clone(&self.shared));
        }
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

    /// Replaces a failed stream. The ring stays open meanwhile.
    fn reopen(&mut self, why: &str) {
        retire(self.stream.take());
        log::warning!("capture device {} {why}; reopening", self.device_label);
        if self.connect() {
            log::info!("capture device {} reopened", self.device_label);
            self.restarted = true;
        }
    }

    /// Finds the device anew and starts a stream on it in the engine's format,
    /// retrying with backoff until it opens (true) or `stop` is raised (false).
    /// A failure is said once, and again only when the reason changes.
    fn connect(&mut self) -> bool {
        let mut backoff = Duration::from_millis(100);
        let mut last_failure = String::new();
        while !self.stop.load(Ordering::Relaxed) {
            self.shared.failed.store(false, Ordering::Relaxed);
            self.shared.default_changed.store(false, Ordering::Relaxed);
            match self.try_connect() {
                Ok(()) => return true,
                Err(why) => {
                    let why = why.to_string();
                    if why != last_failure {
                        log::warning!("cannot open capture device {}: {why}; retrying", self.query.spec);
                        last_failure = why;
                    }
                }
            }
            let until = clock::monotonic_ns() + backoff.as_nanos() as u64;
            while !self.stop.load(Ordering::Relaxed) && clock::monotonic_ns() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        false
    }

    fn try_connect(&mut self) -> Result<(), EngineError> {
        let device = self.query.find()?;
        let (rate, channels) = (self.format.rate, self.format.channels);
        let format = device_format(&device, rate, channels, true, self.options.period_ms)?;
        let (stream, samples, marks) = start(&device, format, self.options.buffer_ms, &self.shared)
            .map_err(|e| EngineError::BadInput(format!("'{}' ({}): {e}", device.name, device.id)))?;
        self.queue.next_stream(samples, marks);
        self.opened(&device, format, stream);
        Ok(())
    }

    /// The default source changed: a host that moved the stream itself (cpal
    /// says so with `DeviceChanged`) only has its audio flagged; one that pins a
    /// stream to its source is reopened on the new default.
    fn follow_default(&mut self) {
        if self.source_watch.is_some() {
            self.reopen("is no longer the default source");
        } else {
            log::info!("the default source changed; {} moved the stream to it", self.device_host);
            self.restarted = true;
        }
    }
}

/// The configuration to open `device` with: `rate` Hz and `channels` channels
/// (strictly, or the nearest the device offers), about `period_ms` per buffer.
fn device_format(
    device: &InputDevice,
    rate: u32,
    channels: u16,
    strict: bool,
    period_ms: Option<u32>,
) -> Result<DeviceFormat, EngineError> {
    let period_ms = period_ms.unwrap_or(device.host.default_period_ms());
    if device.host == AudioHost::PipeWire {
        Ok(stream::pipewire_format(&device.device, rate, channels, period_ms))
    } else {
        stream::choose_format(&device.device, rate, channels, strict, period_ms)
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
        if self.stream.is_none() && !self.connect() {
            return Ok(Chunk::default()); // stopped while waiting for the device
        }
        loop {
            if self.shared.failed.load(Ordering::Acquire) {
                self.reopen("failed");
            }
            if self.shared.default_changed.swap(false, Ordering::Acquire) {
                self.follow_default();
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
