//! WAV files: 8/16/24/32-bit integer or 32-bit float PCM, any rate and
//! channel count, streamed (never loaded whole).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use hound::{SampleFormat, WavReader};

use super::{Chunk, Source};
use crate::error::EngineError;

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
        let file_len = std::fs::metadata(path).map_err(|e| bad(format!("cannot read the file: {e}")))?.len();
        let reader = WavReader::open(path).map_err(|e| {
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
        if spec.channels == 0 || spec.sample_rate == 0 {
            return Err(bad("the header declares zero channels or a zero sample rate".into()));
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
