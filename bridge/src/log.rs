//! Messages on stderr: the bridge's own through the `log` facade (so the ring
//! library's take the same path), Zenoh's through `tracing`, both prefixed and
//! filtered by one verbosity. stdout is left to `list`'s output.

use std::io::Write;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let level = match record.level() {
                log::Level::Error => "error: ",
                log::Level::Warn => "warning: ",
                _ => "",
            };
            // A closed or full stderr loses the message, nothing more.
            let _ = writeln!(std::io::stderr(), "v2m-bridge: {level}{}", record.args());
        }
    }

    fn flush(&self) {}
}

static STDERR: Stderr = Stderr;

/// The Zenoh module that reports a session opened to itself: with the default
/// endpoints the bridge holding the meeting point dials it too, by design
/// (`session`), and Zenoh refuses that every retry.
const SELF_CONNECTIONS: &str = "zenoh_transport::unicast::establishment::open";

/// Shows the bridge's messages up to `level`; Zenoh's errors always (but for the
/// expected refusals of the default endpoints, `default_endpoints`), its warnings
/// and details from `-vv` (or as `RUST_LOG` says).
pub fn start(level: log::LevelFilter, zenoh_details: bool, default_endpoints: bool) {
    if log::set_logger(&STDERR).is_ok() {
        log::set_max_level(level);
    }
    let fallback = match (zenoh_details, default_endpoints) {
        (true, _) => "info".to_owned(),
        (false, true) => format!("error,{SELF_CONNECTIONS}=off"),
        (false, false) => "error".to_owned(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(fallback));
    let zenoh_messages =
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(false).with_filter(filter);
    let refusals = Refusals.with_filter(Targets::new().with_target(HANDSHAKES, tracing::Level::DEBUG));
    let _ = tracing_subscriber::registry().with(zenoh_messages).with(refusals).try_init();
}

/// Where Zenoh reports (at debug level) a peer it refused while accepting it.
const HANDSHAKES: &str = "zenoh_transport::unicast::establishment::accept";

/// Says when Zenoh refused a peer for its credentials: a warning an operator needs,
/// which Zenoh itself reports only among its handshake details.
struct Refusals;

impl<S: tracing::Subscriber> Layer<S> for Refusals {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        if message.0.contains("Invalid password") || message.0.contains("Invalid user") {
            log::warn!("refused a peer: wrong user or password ({})", message.0.trim());
        }
    }
}

struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}
