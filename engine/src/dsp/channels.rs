//! Which of a device's channels become the ring's, and the VAD's view of a
//! multi-channel frame.

use super::downmix::downmix;
use crate::error::EngineError;

/// What `--channels` and `--channel-map` asked for, before the source says
/// how many channels it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelRequest {
    /// `--channels 1` (the default): every source channel mixed to one.
    Mix,
    /// `--channels N`: the source's first N channels.
    First(usize),
    /// `--channels all`: every source channel.
    All,
    /// `--channel-map 0,2,3`: these source channels, in this order.
    Map(Vec<usize>),
}

impl ChannelRequest {
    /// The channels to ask a capture device for, when the request names them.
    pub fn device_channels(&self) -> Option<u16> {
        match self {
            ChannelRequest::Mix | ChannelRequest::All => None,
            ChannelRequest::First(n) => u16::try_from(*n).ok(),
            ChannelRequest::Map(map) => map.iter().max().and_then(|&c| u16::try_from(c + 1).ok()),
        }
    }

    /// The selection for a source of `source_channels` channels (`source` names
    /// it in the error when it has too few).
    pub fn resolve(&self, source_channels: usize, source: &str) -> Result<ChannelSelection, EngineError> {
        let selection = match self {
            ChannelRequest::Mix => ChannelSelection::Mix,
            ChannelRequest::First(n) => ChannelSelection::Pick((0..*n).collect()),
            ChannelRequest::All => ChannelSelection::Pick((0..source_channels).collect()),
            ChannelRequest::Map(map) => ChannelSelection::Pick(map.clone()),
        };
        let needed = selection.source_channels_needed();
        if needed > source_channels {
            let asked = match self {
                ChannelRequest::Map(map) => {
                    format!(
                        "--channel-map {}",
                        map.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
                    )
                }
                _ => format!("--channels {needed}"),
            };
            return Err(EngineError::BadInput(format!(
                "{asked} needs {needed} source channels, and {source} has {source_channels}; \
                 ask for at most {source_channels} (or --channels all)"
            )));
        }
        Ok(selection)
    }
}

/// The ring's channels, from the source's interleaved ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelSelection {
    /// One channel, the average of all the source's (the default: a mono ring).
    Mix,
    /// These source channels, in this order (`--channels N`: the first N;
    /// `--channel-map 0,2,3`: those).
    Pick(Vec<usize>),
}

impl ChannelSelection {
    /// Channels in the ring.
    pub fn ring_channels(&self) -> usize {
        match self {
            ChannelSelection::Mix => 1,
            ChannelSelection::Pick(map) => map.len(),
        }
    }

    /// The source channels this selection needs at least.
    pub fn source_channels_needed(&self) -> usize {
        match self {
            ChannelSelection::Mix => 1,
            ChannelSelection::Pick(map) => map.iter().max().map_or(1, |&c| c + 1),
        }
    }

    /// Fills `out` (`ring_channels()` interleaved, one sample frame per source
    /// sample frame) from `interleaved` (`source_channels` wide). Copies
    /// samples unchanged, so each picked channel is bit-exact.
    pub fn select(&self, interleaved: &[f32], source_channels: usize, out: &mut [f32]) {
        match self {
            ChannelSelection::Mix => downmix(interleaved, source_channels, out),
            ChannelSelection::Pick(map) => {
                for (dst, frame) in
                    out.chunks_exact_mut(map.len()).zip(interleaved.chunks_exact(source_channels))
                {
                    for (d, &c) in dst.iter_mut().zip(map) {
                        *d = frame[c];
                    }
                }
            }
        }
    }
}

/// What the VAD listens to in a multi-channel ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VadChannel {
    /// The average of the ring's channels (the default).
    Mix,
    /// One ring channel.
    Channel(usize),
}

impl VadChannel {
    /// The VAD's mono view of `frame` (`channels` interleaved) in `out`
    /// (`frame.len() / channels` long); a mono frame is returned as it is.
    pub fn view<'a>(self, frame: &'a [f32], channels: usize, out: &'a mut [f32]) -> &'a [f32] {
        if channels == 1 {
            return frame;
        }
        match self {
            VadChannel::Mix => downmix(frame, channels, out),
            VadChannel::Channel(k) => {
                for (d, f) in out.iter_mut().zip(frame.chunks_exact(channels)) {
                    *d = f[k];
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_picks_and_orders_channels_bit_exact() {
        let input = [0.1, 0.2, 0.3, 0.4, 1.1, 1.2, 1.3, 1.4];
        let mut out = [0.0; 6];
        ChannelSelection::Pick(vec![3, 0, 2]).select(&input, 4, &mut out);
        assert_eq!(out, [0.4, 0.1, 0.3, 1.4, 1.1, 1.3]);
        assert_eq!(ChannelSelection::Pick(vec![3, 0, 2]).source_channels_needed(), 4);
    }

    #[test]
    fn the_vad_hears_one_channel_or_the_mix() {
        let frame = [1.0, 0.0, 0.5, -0.5];
        let mut out = [0.0; 2];
        assert_eq!(VadChannel::Channel(1).view(&frame, 2, &mut out), [0.0, -0.5]);
        assert_eq!(VadChannel::Mix.view(&frame, 2, &mut out), [0.5, 0.0]);
        assert_eq!(VadChannel::Channel(0).view(&frame, 1, &mut out), frame);
    }
}
