//! One module per subcommand; each takes plain, checked values (the CLI
//! builds them) and prints through [`output`].

pub mod bench_dsp;
pub mod bench_vad;
pub mod check_headers;
pub mod devices;
pub mod layout;
pub mod list;
pub mod output;
pub mod run;
pub mod status;
