//! `v2m-engine check-headers` (hidden): runs the header validator over a
//! corpus of headers on stdin and prints one verdict a line, so a test can
//! prove the Rust and Python validators accept exactly the same headers.
//!
//! Input: records of `file_len: u64 LE`, `length: u32 LE`, then `length`
//! header bytes. Output per record: `ok`, `bad_magic`, `version`, `truncated`
//! or `invalid`.

use std::io::Read;

use v2m_layout::{HeaderInfo, LayoutError};

use super::output;
use crate::error::EngineError;

/// Reads the corpus from stdin and prints the verdicts.
pub fn check_headers() -> Result<(), EngineError> {
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input).map_err(|e| EngineError::system("reading stdin", e))?;
    let mut verdicts = String::new();
    let mut rest = input.as_slice();
    while !rest.is_empty() {
        let bad = || EngineError::BadInput("check-headers: the corpus ends inside a record".into());
        let (file_len, after) = rest.split_first_chunk::<8>().ok_or_else(bad)?;
        let (length, after) = after.split_first_chunk::<4>().ok_or_else(bad)?;
        let length = u32::from_le_bytes(*length) as usize;
        if after.len() < length {
            return Err(bad());
        }
        let (bytes, after) = after.split_at(length);
        let verdict = match HeaderInfo::parse(bytes, u64::from_le_bytes(*file_len)) {
            Ok(_) => "ok",
            Err(LayoutError::BadMagic) => "bad_magic",
            Err(LayoutError::UnsupportedVersion { .. }) => "version",
            Err(LayoutError::Truncated { .. }) => "truncated",
            Err(LayoutError::Invalid(_)) => "invalid",
        };
        verdicts.push_str(verdict);
        verdicts.push('\n');
        rest = after;
    }
    output::print(&verdicts)
}
