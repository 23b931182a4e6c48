//! Header validation against hand-corrupted headers: each corruption is
//! refused with the error that names what is wrong.

use std::mem::offset_of;
use std::sync::atomic::Ordering;

use v2m_layout::{Geometry, Header, HeaderInfo, LayoutError, RingConfig, VadConfig, VadKind, STATE_RUNNING};

fn config(g: Geometry) -> RingConfig {
    RingConfig {
        geometry: g,
        vad: VadConfig {
            kind: VadKind::Silero,
            threshold: 0.5,
            neg_threshold: 0.35,
            min_silence_ms: 100,
            channel: None,
        },
        source_speed: 1.0,
        source: "tone:440".into(),
        first_index: 0,
        origin: Default::default(),
    }
}

/// A valid header for `g`, as the bytes a reader would see.
fn header_bytes(g: &Geometry) -> Vec<u8> {
    let mut h = Header::new_zeroed();
    h.set_config(&config(*g));
    h.state.store(STATE_RUNNING, Ordering::Relaxed);
    h.write_seq.store(7, Ordering::Relaxed);
    h.stats.samples_lost.store(3, Ordering::Relaxed);
    // SAFETY: Header is repr(C) plain data of size HEADER_SIZE; viewing it as
    // bytes for the length of this borrow is sound.
    let bytes = unsafe {
        std::slice::from_raw_parts((&*h as *const Header).cast::<u8>(), std::mem::size_of::<Header>())
    };
    bytes.to_vec()
}

fn geometry() -> Geometry {
    Geometry::new(16_000, 1, 512, 16).unwrap()
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn a_valid_header_round_trips() {
    let g = geometry();
    let info = HeaderInfo::parse(&header_bytes(&g), g.total_size).unwrap();
    assert_eq!(info.config, config(g));
    assert_eq!(info.state, STATE_RUNNING);
    assert_eq!(info.write_seq, 7);
    assert_eq!(info.stats.samples_lost, 3);
}

#[test]
fn wrong_magic_is_rejected() {
    let g = geometry();
    let mut b = header_bytes(&g);
    b[0] = b'X';
    assert_eq!(HeaderInfo::parse(&b, g.total_size), Err(LayoutError::BadMagic));
}

#[test]
fn a_newer_major_version_is_rejected_and_a_newer_minor_accepted() {
    let g = geometry();
    let mut b = header_bytes(&g);
    b[8..10].copy_from_slice(&2u16.to_le_bytes());
    assert!(matches!(
        HeaderInfo::parse(&b, g.total_size),
        Err(LayoutError::UnsupportedVersion { major: 2, .. })
    ));
    let mut b = header_bytes(&g);
    b[10..12].copy_from_slice(&9u16.to_le_bytes());
    assert_eq!(HeaderInfo::parse(&b, g.total_size).unwrap().version, (1, 9));
}

#[test]
fn a_short_file_is_truncated() {
    let g = geometry();
    let b = header_bytes(&g);
    assert!(matches!(HeaderInfo::parse(&b[..100], 100), Err(LayoutError::Truncated { .. })));
    assert!(matches!(HeaderInfo::parse(&b, g.total_size - 4096), Err(LayoutError::Truncated { .. })));
}

#[derive(Debug, PartialEq)]
enum Expect {
    Invalid(&'static str),
    Truncated,
}

#[test]
fn inconsistent_geometry_is_rejected_with_the_right_error() {
    let g = geometry();
    type Corruption = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Corruption, Expect)> = vec![
        (
            "slots not a power of two",
            Box::new(|b| put_u32(b, offset_of!(Header, slot_count), 12)),
            Expect::Invalid("slot count 12"),
        ),
        (
            "slots past the end of the file",
            Box::new(|b| put_u32(b, offset_of!(Header, slot_count), 32)),
            Expect::Truncated,
        ),
        (
            "samples past the end of the file",
            Box::new(|b| put_u64(b, offset_of!(Header, samples_offset), 8192 + 4096)),
            Expect::Truncated,
        ),
        (
            "one slot",
            Box::new(|b| put_u32(b, offset_of!(Header, slot_count), 1)),
            Expect::Invalid("slot count 1"),
        ),
        (
            "zero rate",
            Box::new(|b| put_u32(b, offset_of!(Header, sample_rate), 0)),
            Expect::Invalid("sample rate 0"),
        ),
        (
            "rate above the limit",
            Box::new(|b| put_u32(b, offset_of!(Header, sample_rate), 1_000_000)),
            Expect::Invalid("sample rate 1000000"),
        ),
        (
            "too many channels",
            Box::new(|b| put_u32(b, offset_of!(Header, channels), 17)),
            Expect::Invalid("channel count 17"),
        ),
        (
            "unknown format",
            Box::new(|b| put_u32(b, offset_of!(Header, sample_format), 9)),
            Expect::Invalid("sample format 9"),
        ),
        (
            "meta inside header",
            Box::new(|b| put_u64(b, offset_of!(Header, meta_offset), 64)),
            Expect::Invalid("metadata offset 64"),
        ),
        (
            "samples overlap meta",
            Box::new(|b| put_u64(b, offset_of!(Header, samples_offset), 4096 + 64)),
            Expect::Invalid("samples offset"),
        ),
        (
            "slot bytes wrong",
            Box::new(|b| put_u64(b, offset_of!(Header, slot_bytes), 4)),
            Expect::Invalid("slot size 4"),
        ),
        (
            "samples past end",
            Box::new(|b| put_u32(b, offset_of!(Header, slot_count), 1 << 20)),
            Expect::Invalid("samples offset"),
        ),
        (
            "huge stride",
            Box::new(|b| put_u32(b, offset_of!(Header, meta_stride), u32::MAX - 7)),
            Expect::Invalid("metadata stride"),
        ),
        (
            "unknown state",
            Box::new(|b| put_u32(b, offset_of!(Header, state), 7)),
            Expect::Invalid("unknown state 7"),
        ),
        (
            "samples offset near u64::MAX",
            Box::new(|b| put_u64(b, offset_of!(Header, samples_offset), u64::MAX - 63)),
            Expect::Invalid("overflows"),
        ),
        (
            "frame × channels × 4 wraps to the slot size 0",
            Box::new(|b| {
                put_u32(b, offset_of!(Header, frame_samples), 1 << 31);
                put_u32(b, offset_of!(Header, channels), 1 << 31);
                put_u64(b, offset_of!(Header, slot_bytes), 0);
            }),
            Expect::Invalid("frame size 2147483648"),
        ),
        (
            "total size smaller than the file",
            Box::new(|b| put_u64(b, offset_of!(Header, total_size), 4096)),
            Expect::Invalid("header says 4096 bytes"),
        ),
        (
            "header size below 512",
            Box::new(|b| put_u32(b, offset_of!(Header, header_size), 100)),
            Expect::Invalid("header size 100"),
        ),
    ];
    for (what, corrupt, expected) in cases {
        let mut b = header_bytes(&g);
        corrupt(&mut b);
        let got = HeaderInfo::parse(&b, g.total_size);
        match (&got, &expected) {
            (Err(LayoutError::Invalid(why)), Expect::Invalid(needle)) => {
                assert!(why.contains(needle), "{what}: {why:?} does not mention {needle:?}")
            }
            (Err(LayoutError::Truncated { .. }), Expect::Truncated) => {}
            _ => panic!("{what}: expected {expected:?}, got {got:?}"),
        }
    }
}

#[test]
fn geometry_rejects_bad_formats() {
    assert!(Geometry::new(0, 1, 512, 16).is_err());
    assert!(Geometry::new(16_000, 0, 512, 16).is_err());
    assert!(Geometry::new(16_000, 1, 0, 16).is_err());
    assert!(Geometry::new(16_000, 1, 512, 1000).is_err());
    assert!(Geometry::new(16_000, 1, 512, 1).is_err());
}

#[test]
fn every_geometry_a_writer_can_make_is_accepted() {
    for (rate, channels, frame, slots) in
        [(1_000, 1, 1, 2), (16_000, 1, 512, 2048), (384_000, 16, 65_536, 2), (8_000, 2, 160, 1 << 20)]
    {
        let g = Geometry::new(rate, channels, frame, slots).unwrap();
        let info = HeaderInfo::parse(&header_bytes(&g), g.total_size).unwrap();
        assert_eq!(info.config.geometry, g);
    }
}

#[test]
fn geometry_places_sections_in_order_on_page_boundaries() {
    for slots in [2u32, 16, 2048, 1 << 20] {
        let g = Geometry::new(48_000, 2, 480, slots).unwrap();
        assert!(g.meta_offset >= 4096);
        assert!(g.meta_at(slots as usize) <= g.samples_offset);
        assert_eq!(g.samples_offset % 4096, 0);
        assert!(g.samples_at(slots as usize) <= g.total_size);
        assert_eq!(g.total_size % 4096, 0);
        assert_eq!(g.slot_of(3 * u64::from(slots) + 1), 1);
    }
}
