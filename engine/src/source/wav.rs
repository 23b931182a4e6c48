//! WAV files: 8/16/24/32-bit integer or 32-bit float PCM, any rate and
//! channel count, streamed (never loaded whole).

use std::fs::File;
use std::io::BufReader;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use hound::{SampleFormat, WavReader};

use super::{Chunk, Source};
use crate::error::EngineError;

/// Sample rates a WAV file may have (the resampler converts any of them).
pub const WAV_RATES: std::ops::RangeInclusive<u32> = 1_000..=768_000;
/// Most channels a WAV file may have (they are averaged to mono).
pub const MAX_WAV_CHANNELS: u16 = 64;

/// A WAV file being replayed.
pub struct WavSource {
    reader: WavReader<BufReader<File>>,
    path: PathBuf,
    format: SampleFormat,
    bits: u16,
    channels: usize,
    rate: u32,
    looping: bool,
    /// Samples (all channels) read since the file last started.
    position: u64,
}

impl WavSource {
    /// Opens and checks `path`; every problem is reported before any ring exists.
    pub fn open(path: &Path, looping: bool) -> Result<WavSource, EngineError> {
        let bad = |why: String| EngineError::BadInput(format!("file:{}: {why}", path.display()));
        // O_NONBLOCK: a FIFO given as a file must not block the open; it is refused below.
        let file =
            File::options().read(true).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC).open(path).map_err(
                |e| match e.kind() {
                    std::io::ErrorKind::NotFound => EngineError::BadInput(format!(
                        "no such file: {}; check the path of the source",
                        path.display()
                    )),
                    std::io::ErrorKind::PermissionDenied => EngineError::BadInput(format!(
                        "cannot read {}: permission denied (this user, uid {}, may not read it)",
                        path.display(),
                        nix::unistd::geteuid()
                    )),
                    _ => bad(format!("cannot read the file: {e}")),
                },
            )?;
        let meta = file.metadata().map_err(|e| bad(format!("cannot read the file: {e}")))?;
        if !meta.is_file() {
            return Err(bad("is not a regular file (a FIFO, device or directory); give a WAV file".into()));
        }
        let file_len = meta.len();
        let reader = WavReader::new(BufReader::new(file)).map_err(|e| {
            bad(format!("not a readable WAV file ({e}); give 16/24/32-bit integer or 32-bit float PCM WAV"))
        })?;
        let spec = reader.spec();
        let supported = match spec.sample_format {
            SampleFormat::Int => matches!(spec.bits_per_sample, 8 | 16 | 24 | 32),
            SampleFormat::Float => spec.bits_per_sample == 32,
        };
        if !supported {
            return Err(bad(format!(
                "{}-bit {:?} samples are not supported; convert to 16-bit PCM or 32-bit float",
                spec.bits_per_sample, spec.sample_format
            )));
        }
        if !WAV_RATES.contains(&spec.sample_rate) {
            return Err(bad(format!(
                "its sample rate {} Hz is outside {}..={} Hz; resample it first (e.g. sox in.wav -r 16000 out.wav)",
                spec.sample_rate,
                WAV_RATES.start(),
                WAV_RATES.end()
            )));
        }
        if !(1..=MAX_WAV_CHANNELS).contains(&spec.channels) {
            return Err(bad(format!(
                "it declares {} channels; 1 to {MAX_WAV_CHANNELS} are supported",
                spec.channels
            )));
        }
        let samples = u64::from(reader.len());
        if samples == 0 {
            return Err(bad("the file holds no samples".into()));
        }
        // The smallest possible header is 44 bytes; a data chunk that claims
        // more than the file holds means the file was cut short.
        let data_bytes = samples * u64::from(spec.bits_per_sample).div_ceil(8);
        if data_bytes + 44 > file_len {
            return Err(bad(format!(
                "the file is truncated: its header promises {data_bytes} bytes of samples but the file has {file_len} bytes in all"
            )));
        }
        Ok(WavSource {
            reader,
            path: path.to_path_buf(),
            format: spec.sample_format,
            bits: spec.bits_per_sample,
            channels: usize::from(spec.channels),
            rate: spec.sample_rate,
            looping,
            position: 0,
        })
    }

    /// Reads whole sample frames into `out`; returns samples written.
    fn fill(&mut self, out: &mut [f32]) -> Result<usize, EngineError> {
        let mut written = 0;
        let result = match self.format {
            SampleFormat::Float => fill_from(self.reader.samples::<f32>(), out, &mut written, |s| s),
            SampleFormat::Int => {
                let scale = 1.0 / (1u64 << (self.bits - 1)) as f32;
                fill_from(self.reader.samples::<i32>(), out, &mut written, |s| s as f32 * scale)
            }
        };
        self.position += written as u64;
        result.map_err(|e| {
            EngineError::BadInput(format!(
                "file:{}: corrupt after {} samples: {e}",
                self.path.display(),
                self.position
            ))
        })?;
        Ok(written)
    }
}

/// Copies converted samples from `samples` into `out` until it is full or
/// the iterator ends.
fn fill_from<S, I: Iterator<Item = hound::Result<S>>>(
    samples: I,
    out: &mut [f32],
    written: &mut usize,
    convert: impl Fn(S) -> f32,
) -> hound::Result<()> {
    for (dst, sample) in out.iter_mut().zip(samples) {
        *dst = convert(sample?);
        *written += 1;
    }
    Ok(())
}

impl Source for WavSource {
    fn rate(&self) -> u32 {
        self.rate
    }

    fn channels(&self) -> usize {
        self.channels
    }

    fn read(&mut self, out: &mut [f32]) -> Result<Chunk, EngineError> {
        let whole = out.len() - out.len() % self.channels;
        let mut written = self.fill(&mut out[..whole])?;
        let mut restarted = false;
        if written == 0 && self.looping {
            self.reader
                .seek(0)
                .map_err(|e| EngineError::system(format!("rewinding {}", self.path.display()), e))?;
            self.position = 0;
            restarted = true;
            written = self.fill(&mut out[..whole])?;
        }
        Ok(Chunk { frames: written / self.channels, restarted, ..Chunk::default() })
    }
}
