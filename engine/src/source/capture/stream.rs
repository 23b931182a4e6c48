//! Opening a cpal input stream: choosing its configuration and wiring the
//! callback for whatever sample format the device delivers.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use cpal::traits::DeviceTrait;
use cpal::{
    Device, ErrorKind, FromSample, SampleFormat, SizedSample, Stream, StreamConfig, SupportedBufferSize, I24,
    U24,
};

use super::callback::{CallbackSink, CaptureShared};
use crate::error::EngineError;
use v2m_ring::clock;

/// The configuration the stream runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceFormat {
    /// Device sample rate, Hz.
    pub rate: u32,
    /// Interleaved channels.
    pub channels: u16,
    /// Sample format the callback receives.
    pub sample_format: SampleFormat,
    /// Frames per device buffer; None: the driver's default.
    pub buffer_frames: Option<u32>,
}

/// The buffer size nearest to `period_ms` that the device allows (None for
/// `period_ms` 0 or a device that does not say).
fn buffer_frames(range: &SupportedBufferSize, rate: u32, period_ms: u32) -> Option<u32> {
    match (range, period_ms) {
        (_, 0) | (SupportedBufferSize::Unknown, _) => None,
        (SupportedBufferSize::Range { min, max }, _) => Some((rate * period_ms / 1000).clamp(*min, *max)),
    }
}

/// Lower is preferred. Plug-type ALSA devices offer every format and convert
/// in software; most capture hardware is 16-bit, so asking for i16 first
/// avoids a conversion layer (ALSA's plug-to-float path was seen to skip whole
/// periods of the `file` test device), and i16 → f32 is exact.
fn format_rank(format: SampleFormat) -> Option<u8> {
    Some(match format {
        SampleFormat::I16 => 0,
        SampleFormat::I32 => 1,
        SampleFormat::F32 => 2,
        SampleFormat::I24 => 3,
        SampleFormat::U16 => 4,
        SampleFormat::I8 => 5,
        SampleFormat::U8 => 6,
        SampleFormat::U24 => 7,
        SampleFormat::U32 => 8,
        SampleFormat::F64 => 9,
        _ => return None,
    })
}

/// Picks the device configuration: `rate` Hz with `channels` channels when
/// the device offers it (the fewest channels otherwise), else the device's
/// default configuration, which the DSP thread converts.
/// Each device buffer holds about `period_ms` of audio (0: the driver's choice).
pub fn choose_format(
    device: &Device,
    rate: u32,
    channels: u16,
    strict: bool,
    period_ms: u32,
) -> Result<DeviceFormat, EngineError> {
    let ranges = device
        .supported_input_configs()
        .map_err(|e| EngineError::BadInput(format!("cannot query the capture device: {e}")))?;
    let best = ranges
        .filter(|r| r.contains_rate(rate) && format_rank(r.sample_format()).is_some())
        .filter(|r| !strict || r.channels() == channels)
        .min_by_key(|r| (r.channels() != channels, r.channels(), format_rank(r.sample_format())));
    if let Some(range) = best {
        return Ok(DeviceFormat {
            rate,
            channels: range.channels(),
            sample_format: range.sample_format(),
            buffer_frames: buffer_frames(range.buffer_size(), rate, period_ms),
        });
    }
    if strict {
        return Err(EngineError::BadInput(format!(
            "the capture device does not offer {rate} Hz with {channels} channels; run `v2m-engine devices`"
        )));
    }
    let fallback = device
        .default_input_config()
        .map_err(|e| EngineError::BadInput(format!("the capture device has no usable configuration: {e}")))?;
    Ok(DeviceFormat {
        rate: fallback.sample_rate(),
        channels: fallback.channels(),
        sample_format: fallback.sample_format(),
        buffer_frames: buffer_frames(fallback.buffer_size(), fallback.sample_rate(), period_ms),
    })
}

/// The configuration to ask of a PipeWire device: exactly `rate` Hz, `channels`
/// channels, f32. cpal lists only the graph's rate and two channels for a
/// PipeWire node, but a PipeWire stream converts whatever the node carries
/// (PipeWire's own channel mixer and resampler, with the node's real channel
/// positions), and f32 is the graph's own format: asking for what the ring
/// needs leaves the engine nothing to convert.
pub fn pipewire_format(device: &Device, rate: u32, channels: u16, period_ms: u32) -> DeviceFormat {
    let buffer_range = device
        .default_input_config()
        .map(|config| *config.buffer_size())
        .unwrap_or(SupportedBufferSize::Unknown);
    DeviceFormat {
        rate,
        channels,
        sample_format: SampleFormat::F32,
        buffer_frames: buffer_frames(&buffer_range, rate, period_ms),
    }
}

/// Builds (but does not start) an input stream delivering into `sink`.
pub fn build(
    device: &Device,
    format: DeviceFormat,
    sink: CallbackSink,
    shared: Arc<CaptureShared>,
) -> Result<Stream, cpal::Error> {
    let config = StreamConfig {
        channels: format.channels,
        sample_rate: format.rate,
        buffer_size: format.buffer_frames.map_or(cpal::BufferSize::Default, cpal::BufferSize::Fixed),
    };
    match format.sample_format {
        SampleFormat::F32 => typed::<f32>(device, config, sink, shared),
        SampleFormat::I16 => typed::<i16>(device, config, sink, shared),
        SampleFormat::I32 => typed::<i32>(device, config, sink, shared),
        SampleFormat::I24 => typed::<I24>(device, config, sink, shared),
        SampleFormat::U16 => typed::<u16>(device, config, sink, shared),
        SampleFormat::I8 => typed::<i8>(device, config, sink, shared),
        SampleFormat::U8 => typed::<u8>(device, config, sink, shared),
        SampleFormat::U24 => typed::<U24>(device, config, sink, shared),
        SampleFormat::U32 => typed::<u32>(device, config, sink, shared),
        SampleFormat::F64 => typed::<f64>(device, config, sink, shared),
        other => Err(cpal::Error::with_message(
            ErrorKind::UnsupportedConfig,
            format!("sample format {other} is not supported"),
        )),
    }
}

fn typed<T>(
    device: &Device,
    config: StreamConfig,
    mut sink: CallbackSink,
    shared: Arc<CaptureShared>,
) -> Result<Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    device.build_input_stream::<T, _, _>(
        config,
        move |data: &[T], info: &cpal::InputCallbackInfo| {
            // cpal's instants have an unspecified origin; their difference is
            // how long ago the buffer's first sample was captured.
            let stamps = info.timestamp();
            let age = stamps.callback.saturating_duration_since(stamps.capture);
            let now = clock::monotonic_ns();
            sink.push(data, now.saturating_sub(age.as_nanos() as u64), now);
        },
        move |error: cpal::Error| match error.kind() {
            ErrorKind::Xrun => {
                shared.overruns.fetch_add(1, Ordering::Relaxed);
            }
            // The host moved a `default` stream to the new default source itself.
            ErrorKind::DeviceChanged => shared.default_changed.store(true, Ordering::Release),
            ErrorKind::RealtimeDenied => {}
            _ => shared.failed.store(true, Ordering::Release),
        },
        None,
    )
}
