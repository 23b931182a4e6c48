//! Live capture through cpal (ALSA on Linux): the audio callback pushes into
//! a lock-free SPSC ring, the DSP thread pulls from it here.
//!
//! ```text
//! driver thread:  cpal callback ──CallbackSink──► rtrb<f32> + rtrb<Mark>
//! DSP thread:     CaptureSource::read ◄────────────┘   (parks until unparked by the callback)
//! ```

pub mod callback;
pub mod devices;
pub mod host_choice;
pub mod sound_server;
pub mod stream;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cpal::traits::StreamTrait;
use rtrb::{Consumer, RingBuffer};

use super::{Chunk, Source, SourceSpec};
use crate::clock;
use crate::error::EngineError;
use crate::log;
use crate::priority::Outcome;
use callback::{CallbackSink, CaptureShared, Mark};
use devices::{AudioHost, InputDevice};
use host_choice::HostChoice;
use stream::DeviceFormat;

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
/// Device buffers whose arrival times are remembered, to date frames' last samples.
const ARRIVAL_HISTORY: usize = 256;
/// A live device that delivers nothing for this long is treated as failed
/// (some drivers, e.g. ALSA's PulseAudio plugin when the server dies, stall
/// instead of reporting an error).
const STALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait between reopen attempts of a failed device.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A running capture stream, read by the DSP thread.
pub struct CaptureSource {
    device: InputDevice,
    format: DeviceFormat,
    buffer_ms: u32,
    stream: Option<cpal::Stream>,
    samples: Consumer<f32>,
    marks: Consumer<Mark>,
    shared: Arc<CaptureShared>,
    /// Sample frames read since the current stream opened.
    position: u64,
    /// Sample frames read before the current stream opened.
    stream_base: u64,
    last_mark: Option<Mark>,
    /// (position counted from the first read, arrival ns) of recent buffers, oldest first.
    arrivals: std::collections::VecDeque<(u64, u64)>,
    seen_lost: u64,
    seen_overruns: u64,
    restarted: bool,
    /// CLOCK_MONOTONIC ns of the last time samples were available.
    last_data_ns: u64,
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
            samples,
            marks,
            shared,
            position: 0,
            stream_base: 0,
            last_mark: None,
            arrivals: std::collections::VecDeque::with_capacity(ARRIVAL_HISTORY),
            seen_lost: 0,
            seen_overruns: 0,
            restarted: false,
            last_data_ns: clock::monotonic_ns(),
            stop,
        })
    }

    /// Consumes the marks of buffers starting before `end` (stream position),
    /// remembering their arrival times.
    fn drain_marks_before(&mut self, end: u64) {
        while let Ok(mark) = self.marks.peek() {
            if mark.position >= end {
                break;
            }
            if self.arrivals.len() == ARRIVAL_HISTORY {
                self.arrivals.pop_front();
            }
            self.arrivals.push_back((self.stream_base + mark.position, mark.arrival_ns));
            self.last_mark = Some(*mark);
            let _ = self.marks.pop();
        }
    }

    /// CLOCK_MONOTONIC time of the sample frame at `position` in the current stream.
    fn capture_time_at(&mut self, position: u64) -> u64 {
        self.drain_marks_before(position + 1);
        match self.last_mark {
            Some(mark) => {
                let offset = (position - mark.position) as f64 * 1e9 / f64::from(self.format.rate);
                mark.capture_ns + offset as u64
            }
            None => clock::monotonic_ns(),
        }
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
                    (self.stream, self.samples, self.marks) = (Some(stream), samples, marks);
                    self.stream_base += self.position;
                    self.position = 0;
                    self.last_mark = None;
                    self.restarted = true;
                    self.last_data_ns = clock::monotonic_ns();
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
        self.arrivals.iter().rev().find(|&&(start, _)| start <= position).map(|&(_, ns)| ns)
    }

    fn read(&mut self, out: &mut [f32]) -> Result<Chunk, EngineError> {
        let channels = self.channels();
        loop {
            if self.shared.failed.load(Ordering::Acquire) {
                self.reopen("failed");
            } else if clock::monotonic_ns() - self.last_data_ns > STALL_TIMEOUT.as_nanos() as u64 {
                self.reopen("delivered nothing for 2 s");
            }
            let available = self.samples.slots() / channels * channels;
            if available > 0 {
                let n = available.min(out.len() / channels * channels);
                self.last_data_ns = clock::monotonic_ns();
                let chunk = self.samples.read_chunk(n).expect("n samples are available");
                let (first, second) = chunk.as_slices();
                out[..first.len()].copy_from_slice(first);
                out[first.len()..n].copy_from_slice(second);
                chunk.commit_all();
                let capture_ns = self.capture_time_at(self.position);
                self.position += (n / channels) as u64;
                self.drain_marks_before(self.position);
                let lost = self.shared.lost_frames.load(Ordering::Relaxed);
                let overruns = self.shared.overruns.load(Ordering::Relaxed);
                let chunk = Chunk {
                    frames: n / channels,
                    restarted: std::mem::take(&mut self.restarted),
                    lost_frames: lost - self.seen_lost,
                    overruns: overruns - self.seen_overruns,
                    capture_ns: Some(capture_ns),
                };
                (self.seen_lost, self.seen_overruns) = (lost, overruns);
                return Ok(chunk);
            }
            if self.stop.load(Ordering::Relaxed) {
                return Ok(Chunk::default());
            }
            // The callback unparks us after every buffer; the timeout only
            // bounds how late a stop or a failure is noticed.
            std::thread::park_timeout(Duration::from_millis(100));
        }
    }
}
