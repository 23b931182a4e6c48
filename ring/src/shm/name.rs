//! Ring names and the paths they stand for.

use std::path::PathBuf;

/// Where POSIX shared memory lives on Linux.
pub const SHM_DIR: &str = "/dev/shm";

/// A validated ring name: the segment is `/dev/shm/v2m-NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingName(String);

impl RingName {
    /// Accepts 1–64 characters of `A–Z a–z 0–9 . _ -`, not starting with a dot.
    pub fn parse(name: &str) -> Result<RingName, String> {
        let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if name.is_empty() || name.len() > 64 || !ok_chars || name.starts_with('.') {
            return Err(format!(
                "ring name '{name}' must be 1-64 characters of letters, digits, '.', '_' or '-', not starting with '.'"
            ));
        }
        Ok(RingName(name.to_string()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `/dev/shm/v2m-NAME`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("{SHM_DIR}/v2m-{}", self.0))
    }

    /// The private name the segment is built under before it is published:
    /// `.v2m-NAME.PID.init`. It starts with a dot so `v2m-*` globs never see
    /// a half-built ring.
    pub fn private_path(&self) -> PathBuf {
        PathBuf::from(format!("{SHM_DIR}/{INIT_PREFIX}{}.{}{INIT_SUFFIX}", self.0, std::process::id()))
    }
}

impl RingName {
    /// The lock file engines take before they remove or replace whatever is at
    /// the ring's name: `.v2m-NAME.lock`, mode 0600, so only this user's engines
    /// can hold it (see `shm::removal`).
    pub fn removal_lock_path(&self) -> PathBuf {
        PathBuf::from(format!("{SHM_DIR}/{INIT_PREFIX}{}{REMOVAL_LOCK_SUFFIX}", self.0))
    }
}

/// See [`RingName::removal_lock_path`].
pub const REMOVAL_LOCK_SUFFIX: &str = ".lock";

/// Private (unpublished) segments are named `.v2m-NAME.PID.init`.
pub const INIT_PREFIX: &str = ".v2m-";
/// See [`INIT_PREFIX`].
pub const INIT_SUFFIX: &str = ".init";

/// The creator's pid in a private segment's file name, if it is one.
///
/// ```ignore
/// assert_eq!(init_file_pid(".v2m-mic.4242.init"), Some(4242));
/// ```
pub fn init_file_pid(file_name: &str) -> Option<u32> {
    let middle = file_name.strip_prefix(INIT_PREFIX)?.strip_suffix(INIT_SUFFIX)?;
    middle.rsplit_once('.')?.1.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_files_name_their_creator() {
        assert_eq!(init_file_pid(".v2m-mic.4242.init"), Some(4242));
        assert_eq!(init_file_pid(".v2m-a.b.c.7.init"), Some(7));
        assert_eq!(init_file_pid("v2m-mic"), None);
        assert_eq!(init_file_pid(".v2m-mic.x.init"), None);
    }
}
