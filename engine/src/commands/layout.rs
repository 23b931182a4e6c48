//! `v2m-engine layout` (hidden): every layout field's offset and size as JSON,
//! for the test that proves the Python reader reads the same layout.

use serde_json::json;
use v2m_layout::{
    Header, SlotMeta, SlotSamples, HEADER_USED, STATE_CLOSED, STATE_RUNNING, VAD_ENERGY, VAD_SILERO,
};

use super::output;
use crate::error::EngineError;

/// Prints the layout tables.
pub fn layout() -> Result<(), EngineError> {
    let fields = |table: Vec<(&str, usize, usize)>| {
        table
            .into_iter()
            .map(|(name, off, size)| (name.to_string(), json!([off, size])))
            .collect::<serde_json::Map<_, _>>()
    };
    let doc = json!({
        "version": [v2m_layout::VERSION_MAJOR, v2m_layout::VERSION_MINOR],
        "magic": String::from_utf8_lossy(&v2m_layout::MAGIC[..7]),
        "header_size": v2m_layout::HEADER_SIZE,
        "header_used": HEADER_USED,
        "header_defined": v2m_layout::HEADER_DEFINED,
        "slot_meta_size": v2m_layout::SLOT_META_SIZE,
        "slot_record_size": v2m_layout::SLOT_RECORD_SIZE,
        "header": fields(Header::field_table()),
        "slot": fields(SlotMeta::field_table()),
        "slot_samples": fields(SlotSamples::field_table()),
        "flags": {
            "discontinuity": v2m_layout::FLAG_DISCONTINUITY, "padded": v2m_layout::FLAG_PADDED,
            "device_overrun": v2m_layout::FLAG_DEVICE_OVERRUN, "source_restart": v2m_layout::FLAG_SOURCE_RESTART,
        },
        "states": {"starting": v2m_layout::STATE_STARTING, "running": STATE_RUNNING, "closed": STATE_CLOSED},
        "vad": {"off": v2m_layout::VAD_OFF, "energy": VAD_ENERGY, "silero": VAD_SILERO},
        "format_f32le": v2m_layout::FORMAT_F32LE,
        "limits": {
            "rate": [v2m_layout::RATE_RANGE.start(), v2m_layout::RATE_RANGE.end()],
            "channels": v2m_layout::MAX_CHANNELS, "frame_samples": v2m_layout::MAX_FRAME_SAMPLES,
            "slots": v2m_layout::MAX_SLOTS, "meta_stride": v2m_layout::MAX_META_STRIDE,
        },
    });
    output::println(&doc.to_string())
}
