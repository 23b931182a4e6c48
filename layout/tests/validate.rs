//! Header validation against hand-corrupted headers.

use std::sync::atomic::Ordering;

use v2m_layout::{Geometry, Header, HeaderInfo, LayoutError, STATE_RUNNING};

/// A valid header for `g`, as the bytes a reader would see.
fn header_bytes(g: &Geometry) -> Vec<u8> {
    let mut h = Header::new_zeroed();
    h.set_geometry(g);
    h.state.store(STATE_RUNNING, Ordering::Relaxed);
    h.write_seq.store(7, Ordering::Relaxed);
    h.set_source_text("tone:440");
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
    assert_eq!(info.geometry, g);
    assert_eq!(info.state, STATE_RUNNING);
    assert_eq!(info.write_seq, 7);
    assert_eq!(info.source, "tone:440");
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

#[test]
fn inconsistent_geometry_is_rejected() {
    let g = geometry();
    type Corruption = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Corruption)> = vec![
        ("slots not a power of two", Box::new(|b| put_u32(b, 80, 12))),
        ("zero rate", Box::new(|b| put_u32(b, 64, 0))),
        ("unknown format", Box::new(|b| put_u32(b, 76, 9))),
        ("meta inside header", Box::new(|b| put_u64(b, 88, 64))),
        ("samples overlap meta", Box::new(|b| put_u64(b, 96, 4096 + 64))),
        ("slot bytes wrong", Box::new(|b| put_u64(b, 104, 4))),
        ("samples past end", Box::new(|b| put_u32(b, 80, 1 << 20))),
        ("huge stride overflows", Box::new(|b| put_u32(b, 84, u32::MAX - 7))),
        ("unknown state", Box::new(|b| put_u32(b, 28, 7))),
        ("samples offset near u64::MAX", Box::new(|b| put_u64(b, 96, u64::MAX - 63))),
    ];
    for (what, corrupt) in cases {
        let mut b = header_bytes(&g);
        corrupt(&mut b);
        let got = HeaderInfo::parse(&b, g.total_size);
        assert!(
            matches!(got, Err(LayoutError::Invalid(_)) | Err(LayoutError::Truncated { .. })),
            "{what}: {got:?}"
        );
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
