//! The bridge's command line: `publish` a local ring, `mirror` rings into local
//! ones, `list` the publishers that are alive.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use v2m_ring::shm::RingName;

/// Carries v2m rings between hosts over Zenoh: `publish` serves a local ring's
/// frames, `mirror` writes them into a local ring that every v2m reader reads as
/// if the engine ran here. Frame indices are kept; frames lost on the way are
/// flagged and counted in the mirror. With no endpoint given, nothing listens
/// beyond this host (loopback only, no multicast scouting).
#[derive(Parser, Debug)]
#[command(name = "v2m-bridge", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More detail on stderr (-vv: Zenoh's own messages too).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The bridge's commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Publish every frame of local rings, and their configuration for late joiners.
    Publish(PublishArgs),
    /// Write the frames published under a key (or a wildcard: one ring per key) into
    /// local rings.
    Mirror(MirrorArgs),
    /// List the publishers that are alive under a key expression.
    List(ListArgs),
}

impl Command {
    /// How the command joins the network.
    pub fn session(&self) -> &SessionArgs {
        match self {
            Command::Publish(args) => &args.session,
            Command::Mirror(args) => &args.session,
            Command::List(args) => &args.session,
        }
    }
}

/// How the bridge joins the Zenoh network.
#[derive(Args, Debug, Clone, Default)]
pub struct SessionArgs {
    /// Listen on a Zenoh endpoint, e.g. tcp/0.0.0.0:7447 (repeatable; replaces the
    /// loopback default).
    #[arg(long, value_name = "ENDPOINT")]
    pub listen: Vec<String>,
    /// Connect to a Zenoh endpoint, e.g. tcp/192.168.1.10:7447 (repeatable; replaces
    /// the loopback default).
    #[arg(long, value_name = "ENDPOINT")]
    pub connect: Vec<String>,
    /// A Zenoh configuration file (JSON5): TLS, user/password authentication, router
    /// mode, access control. Its endpoints and scouting win over the defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl SessionArgs {
    /// No endpoint and no file: the loopback defaults.
    pub fn uses_defaults(&self) -> bool {
        self.listen.is_empty() && self.connect.is_empty() && self.config.is_none()
    }
}

/// Where the publisher begins in the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StartAt {
    /// With the next frame the engine publishes.
    Latest,
    /// With the oldest frame still in the ring.
    Oldest,
}

/// How frames travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Delivery {
    /// Over a reliable link (TCP) when there is one: nothing lost unless the
    /// link's queue is full.
    Reliable,
    /// Over a best-effort link (UDP) when there is one: lowest delay, losses counted.
    BestEffort,
}

/// `v2m-bridge publish`.
#[derive(Args, Debug)]
pub struct PublishArgs {
    /// A local ring to publish (/dev/shm/v2m-NAME); repeat it to publish several
    /// from one process.
    #[arg(long, default_value = "default", value_parser = RingName::parse)]
    pub ring: Vec<RingName>,
    /// The key to publish under (one ring only) [default: v2m/<hostname>/<ring>].
    #[arg(long, value_parser = parse_key)]
    pub key: Option<String>,
    /// Where to begin: the next frame, or the oldest still in the ring.
    #[arg(long, value_enum, default_value_t = StartAt::Latest)]
    pub start: StartAt,
    /// How long to wait for the ring to appear, in seconds [default: forever].
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub wait: Option<Duration>,
    /// Most frames sent in one message: frames already waiting in the ring go
    /// together, none is held back for a batch.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=crate::wire::MAX_BATCH_FRAMES as i64))]
    pub batch_frames: u32,
    /// How frames travel (best-effort takes a UDP link when one exists).
    #[arg(long, value_enum, default_value_t = Delivery::Reliable)]
    pub delivery: Delivery,
    /// How long sent frames are kept for mirrors that missed them and ask again
    /// (`mirror --recover-ms`), in milliseconds; 0 keeps none.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(0..=60_000))]
    pub keep_ms: u32,
    /// How the bridge joins the network.
    #[command(flatten)]
    pub session: SessionArgs,
}

/// `v2m-bridge mirror`.
#[derive(Args, Debug)]
pub struct MirrorArgs {
    /// The key to mirror; with a wildcard (`v2m/**`) every matching publisher gets a
    /// ring of its own, named from its key (`v2m/pi/mic` → v2m-pi-mic).
    #[arg(long, value_parser = parse_key)]
    pub key: String,
    /// The local ring to write (a single key only) [default: the key's last part].
    #[arg(long, value_parser = RingName::parse)]
    pub ring: Option<RingName>,
    /// Make the mirror rings readable by the owner's group (mode 0640).
    #[arg(long)]
    pub group_readable: bool,
    /// When frames are missing, hold the frames after them up to this many
    /// milliseconds while the publisher is asked to send the missing ones again;
    /// what has not come by then is lost (counted). 0: never wait, lowest delay.
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub recover_ms: u32,
    /// How the bridge joins the network.
    #[command(flatten)]
    pub session: SessionArgs,
}

/// `v2m-bridge list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Which publishers.
    #[arg(long, default_value = "v2m/**", value_parser = parse_key)]
    pub key: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// How long to wait for answers, in seconds.
    #[arg(long, default_value = "1", value_parser = parse_seconds)]
    pub timeout: Duration,
    /// How the bridge joins the network.
    #[command(flatten)]
    pub session: SessionArgs,
}

/// A key expression Zenoh accepts, checked before any network is touched.
fn parse_key(text: &str) -> Result<String, String> {
    zenoh::key_expr::KeyExpr::try_from(text.to_owned())
        .map(|key| key.to_string())
        .map_err(|e| format!("{text:?} is not a Zenoh key expression ({e}); e.g. v2m/room1/mic or v2m/**"))
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{text:?} is not a number of seconds ≥ 0"))
}

/// Whether a key expression matches more than one key.
pub fn is_wildcard(key: &str) -> bool {
    key.split('/').any(|chunk| chunk.contains('*') || chunk.contains('$'))
}
