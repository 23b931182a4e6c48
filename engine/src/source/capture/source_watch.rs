//! Keeping a PulseAudio stream on the source `--source` means. cpal's
//! PulseAudio host pins a recording to one source, and the server, when that
//! source goes away (a USB microphone unplugged), moves the stream to another
//! one without telling the client: the engine would go on capturing the wrong
//! microphone, unflagged. Nor does it follow a change of the default source.
//! So a thread of its own asks the server four times a second: for `default`, which
//! source is the default now (another one raises
//! [`CaptureShared::default_changed`]); for `device:NAME`, whether the source
//! is still there (gone raises [`CaptureShared::failed`]). The DSP thread then
//! reopens the stream on the right source, or waits for it to come back.
//! (cpal's PipeWire host moves a `default` stream itself and says so with
//! `DeviceChanged`, which raises the same flag.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait};
use cpal::{Device, HostId};

use super::callback::CaptureShared;

/// How often the server is asked.
const POLL: Duration = Duration::from_millis(250);

/// What the watch checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watched {
    /// That the stream's source is still the server's default.
    Default,
    /// That the stream's source is still there.
    Present,
}

/// The watching thread; it ends when this is dropped (at its next look).
pub struct SourceWatch {
    stop: Arc<AtomicBool>,
}

impl SourceWatch {
    /// Watches the PulseAudio source `opened` is; None if the thread cannot be
    /// had (the engine then stays on the source it opened, as before).
    pub fn start(opened: &Device, watched: Watched, shared: Arc<CaptureShared>) -> Option<SourceWatch> {
        let mut current = opened.id().ok()?.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("v2m-source-watch".into())
            .spawn(move || {
                // Its own connection, made again after a failed look (the server may
                // have restarted): a server that hangs stalls this thread only.
                let mut host: Option<cpal::Host> = None;
                let mut was_present = true;
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(POLL);
                    if host.is_none() {
                        host = cpal::host_from_id(HostId::PulseAudio).ok();
                    }
                    let Some(server) = host.as_ref() else { continue };
                    match watched {
                        Watched::Default => match server.default_input_device().and_then(|d| d.id().ok()) {
                            Some(id) if id.to_string() != current => {
                                current = id.to_string();
                                shared.default_changed.store(true, Ordering::Release);
                            }
                            Some(_) => {}
                            None => host = None, // between servers, or no default yet
                        },
                        Watched::Present => {
                            let Ok(mut devices) = server.input_devices() else {
                                host = None;
                                continue;
                            };
                            let present = devices.any(|d| d.id().is_ok_and(|id| id.to_string() == current));
                            if was_present && !present {
                                shared.failed.store(true, Ordering::Release);
                            }
                            was_present = present;
                        }
                    }
                }
            })
            .ok()?;
        Some(SourceWatch { stop })
    }
}

impl Drop for SourceWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
