//! `v2m-engine flags` (hidden): every subcommand's flags as JSON, read from the
//! clap definitions themselves, for what mirrors them elsewhere (the Python
//! `EngineOptions`, the CLI reference in the docs): a test compares each mirror
//! with this, so none can drift from the one definition.

use std::any::TypeId;
use std::path::PathBuf;

use clap::{ArgAction, CommandFactory};
use serde_json::{json, Value};

use super::{ChannelCount, ChannelMap, Cli};
use crate::commands::output;
use crate::dsp::channels::VadChannel;
use crate::error::EngineError;
use crate::pacing::Speed;
use crate::priority::PriorityChoice;
use crate::source::capture::host_choice::HostChoice;
use crate::source::SourceSpec;
use crate::vad::hysteresis::NEG_THRESHOLD_GAP;
use crate::vad::silero::{Backend, GraphOptimization};
use crate::vad::VadChoice;
use v2m_ring::shm::RingName;

/// Prints the reference.
pub fn print() -> Result<(), EngineError> {
    output::println(&reference().to_string())
}

/// `{"version", "global": [flags], "commands": {name: {"about", "hidden", "flags"}},
/// "derived": {...}}`.
pub fn reference() -> Value {
    let cli = Cli::command();
    let commands: serde_json::Map<String, Value> = cli
        .get_subcommands()
        .map(|command| {
            let flags: Vec<Value> =
                command.get_arguments().filter(|arg| !arg.is_global_set()).map(flag).collect();
            let about = command.get_about().map(|a| a.to_string()).unwrap_or_default();
            (
                command.get_name().to_string(),
                json!({"about": about, "hidden": command.is_hide_set(), "flags": flags}),
            )
        })
        .collect();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "global": cli.get_arguments().map(flag).collect::<Vec<_>>(),
        "commands": commands,
        // Defaults that follow from other flags, stated where the rule lives.
        "derived": {"vad_neg_threshold_gap": (f64::from(NEG_THRESHOLD_GAP) * 1e6).round() / 1e6},
    })
}

fn flag(arg: &clap::Arg) -> Value {
    let long = arg.get_long().map(|l| format!("--{l}"));
    // The keyword a Python mirror takes: the long flag's words joined by `_`.
    let keyword = arg.get_long().map_or_else(|| arg.get_id().to_string(), |l| l.replace('-', "_"));
    let choices: Vec<String> = arg.get_possible_values().iter().map(|v| v.get_name().to_string()).collect();
    let defaults: Vec<String> =
        arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
    json!({
        "flag": long,
        "short": arg.get_short().map(String::from),
        "keyword": keyword,
        "kind": kind(arg),
        "default": defaults.first(),
        "choices": choices,
        "help": arg.get_help().map(|h| h.to_string()).unwrap_or_default(),
        "hidden": arg.is_hide_set(),
    })
}

/// What a flag takes: `flag` (no value), `int`, `float`, `path`, `str`,
/// `str|float` (a word or a number, like `--speed`) or `str|int` (a word or a
/// count, like `--channels`).
fn kind(arg: &clap::Arg) -> &'static str {
    if matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse | ArgAction::Count) {
        return "flag";
    }
    let id = arg.get_value_parser().type_id();
    let is = |t: TypeId| id == t;
    if [TypeId::of::<u16>(), TypeId::of::<u32>(), TypeId::of::<u64>(), TypeId::of::<i64>()]
        .into_iter()
        .any(is)
    {
        "int"
    } else if [TypeId::of::<f32>(), TypeId::of::<f64>()].into_iter().any(is) {
        "float"
    } else if is(TypeId::of::<PathBuf>()) {
        "path"
    } else if is(TypeId::of::<Speed>()) {
        "str|float"
    } else if is(TypeId::of::<ChannelCount>()) || is(TypeId::of::<VadChannel>()) {
        "str|int"
    } else if [
        TypeId::of::<String>(),
        TypeId::of::<SourceSpec>(),
        TypeId::of::<RingName>(),
        TypeId::of::<VadChoice>(),
        TypeId::of::<Backend>(),
        TypeId::of::<GraphOptimization>(),
        TypeId::of::<HostChoice>(),
        TypeId::of::<PriorityChoice>(),
        TypeId::of::<ChannelMap>(),
    ]
    .into_iter()
    .any(is)
    {
        "str"
    } else {
        "unknown"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_has_a_known_kind_and_help() {
        let doc = reference();
        for (name, command) in doc["commands"].as_object().unwrap() {
            for flag in command["flags"].as_array().unwrap() {
                assert_ne!(flag["kind"], "unknown", "{name} {}: add its type to kind()", flag["flag"]);
                assert_ne!(flag["help"], "", "{name} {} has no help", flag["flag"]);
            }
        }
    }

    #[test]
    fn the_help_states_the_end_thresholds_default_as_the_rule_defines_it() {
        let doc = reference();
        let run = doc["commands"]["run"]["flags"].as_array().unwrap();
        let neg = run.iter().find(|f| f["flag"] == "--vad-neg-threshold").unwrap();
        assert!(neg["help"].as_str().unwrap().contains(&format!("threshold − {NEG_THRESHOLD_GAP}")));
    }
}
