//! The names things have on the network: the default key of a ring, where its
//! configuration is served, and the local ring a wildcard mirror writes a key to.

use v2m_ring::shm::RingName;

/// This host's name, as keys and mirror headers carry it.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .map(|name| name.replace(['/', '*', '$', '?', '#'], "_"))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// `v2m/<hostname>/<ring>`.
pub fn default_key(host: &str, ring: &str) -> String {
    format!("v2m/{host}/{ring}")
}

/// Where the publisher of `key` answers with its ring's configuration.
pub fn config_key(key: &str) -> String {
    format!("{key}/config")
}

/// What [`resend_key`] adds to a key.
pub const RESEND_SUFFIX: &str = "/resend";

/// Where the publisher of `key` sends kept frames again to a mirror that missed them.
pub fn resend_key(key: &str) -> String {
    format!("{key}{RESEND_SUFFIX}")
}

/// The local ring a mirror of `pattern` writes `key` into: a single key's last
/// part, or for a wildcard the parts of `key` after the pattern's literal start,
/// joined by '-' (`v2m/**` and `v2m/pi/mic` → `pi-mic`).
pub fn ring_for(pattern: &str, key: &str) -> Result<RingName, String> {
    let literal = pattern.split('/').take_while(|chunk| !chunk.contains(['*', '$'])).count();
    let parts: Vec<&str> = key.split('/').collect();
    let own = if literal >= parts.len() { &parts[parts.len() - 1..] } else { &parts[literal..] };
    let name = own.join("-");
    RingName::parse(&name)
        .map_err(|why| format!("key {key} gives no ring name ({why}); mirror it alone with --ring NAME"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_are_named_from_keys() {
        let name = |pattern, key| ring_for(pattern, key).map(|n| n.as_str().to_owned());
        assert_eq!(name("v2m/**", "v2m/pi/mic").unwrap(), "pi-mic");
        assert_eq!(name("v2m/*/mic", "v2m/pi/mic").unwrap(), "pi-mic");
        assert_eq!(name("v2m/pi/mic", "v2m/pi/mic").unwrap(), "mic");
        assert!(name("v2m/**", "v2m/a b/mic").unwrap_err().contains("--ring"));
    }
}
