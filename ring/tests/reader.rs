//! The Rust reader against the real writer, in real shared memory: every frame it
//! returns is whole and in order, and every frame it does not return is counted
//! (lapped, torn, skipped by the writer), exactly once.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use v2m_layout::{FrameRecord, Geometry, RingConfig, VadConfig, VadKind, FLAG_DISCONTINUITY};
use v2m_ring::reader::{Next, Start};
use v2m_ring::shm::RingName;
use v2m_ring::{RingReader, RingWriter};

const FRAME: u32 = 64;

fn config(slots: u32) -> RingConfig {
    RingConfig {
        geometry: Geometry::new(16_000, 1, FRAME, slots).unwrap(),
        vad: VadConfig {
            kind: VadKind::Energy,
            threshold: 0.5,
            neg_threshold: 0.35,
            min_silence_ms: 100,
            channel: None,
        },
        source_speed: 0.0,
        source: "test".into(),
        first_index: 0,
        origin: Default::default(),
    }
}

fn name(test: &str) -> RingName {
    RingName::parse(&format!("ringtest-{test}-{}", std::process::id())).unwrap()
}

/// Frame `index`'s samples: each one tells which frame and which position it is.
fn pattern(index: u64) -> Vec<f32> {
    (0..FRAME).map(|i| index as f32 * 1000.0 + i as f32).collect()
}

fn publish(writer: &mut RingWriter, index: u64, flags: u32) {
    let record = FrameRecord {
        capture_ns: 1_000 + index,
        vad_prob: (index % 100) as f32 / 100.0,
        speech: index % 2 == 1,
        flags,
        valid_samples: FRAME,
        ..Default::default()
    };
    assert_eq!(writer.publish(&pattern(index), &record), index);
}

fn read(reader: &mut RingReader, out: &mut [f32]) -> Next {
    reader.read(out, Duration::from_secs(5))
}

#[test]
fn every_frame_comes_back_bit_exact_then_closed() {
    let name = name("exact");
    let mut writer = RingWriter::create(&name, &config(16), false).unwrap();
    let mut reader = RingReader::open(&name, Start::Latest).unwrap();
    for index in 0..10 {
        publish(&mut writer, index, 0);
    }
    writer.close();
    let mut out = vec![0f32; FRAME as usize];
    for index in 0..10 {
        let Next::Frame(record) = read(&mut reader, &mut out) else { panic!("frame {index} missing") };
        assert_eq!((record.index, record.capture_ns, record.speech), (index, 1_000 + index, index % 2 == 1));
        assert_eq!(record.vad_prob, (index % 100) as f32 / 100.0);
        assert_eq!(out, pattern(index));
    }
    assert_eq!(read(&mut reader, &mut out), Next::Closed);
    assert_eq!(reader.dropped(), 0);
}

#[test]
fn a_lapped_reader_counts_what_it_lost_and_resumes_at_the_oldest_frame() {
    let name = name("lap");
    let mut writer = RingWriter::create(&name, &config(8), false).unwrap();
    let mut reader = RingReader::open(&name, Start::Oldest).unwrap();
    for index in 0..8 + 5 {
        publish(&mut writer, index, 0);
    }
    let mut out = vec![0f32; FRAME as usize];
    let Next::Frame(record) = read(&mut reader, &mut out) else { panic!("no frame") };
    assert_eq!((record.index, reader.dropped()), (5, 5));
    assert_eq!(out, pattern(5));
}

#[test]
fn frames_the_writer_skipped_are_counted_lost_and_the_next_is_flagged() {
    let name = name("skip");
    let mut writer = RingWriter::create(&name, &config(16), false).unwrap();
    let mut reader = RingReader::open(&name, Start::Latest).unwrap();
    publish(&mut writer, 0, 0);
    writer.skip_to(4);
    publish(&mut writer, 4, FLAG_DISCONTINUITY);
    let mut out = vec![0f32; FRAME as usize];
    let indices: Vec<(u64, u32)> = (0..2)
        .map(|_| match read(&mut reader, &mut out) {
            Next::Frame(r) => (r.index, r.flags),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(indices, [(0, 0), (4, FLAG_DISCONTINUITY)]);
    assert_eq!(reader.dropped(), 3);
}

#[test]
fn a_ring_that_starts_late_is_read_from_its_first_index() {
    let name = name("first");
    let mut writer =
        RingWriter::create(&name, &RingConfig { first_index: 1_000, ..config(8) }, false).unwrap();
    publish(&mut writer, 1_000, 0);
    publish(&mut writer, 1_001, 0);
    let mut reader = RingReader::open(&name, Start::Oldest).unwrap();
    assert_eq!(reader.start_index(), 1_000);
    let mut out = vec![0f32; FRAME as usize];
    assert!(matches!(read(&mut reader, &mut out), Next::Frame(r) if r.index == 1_000));
    assert_eq!(reader.dropped(), 0);
}

/// A writer far faster than the reader, on a tiny ring: slots are overwritten while
/// they are read. Whatever comes back must be one whole frame, in increasing order,
/// and returned + dropped must account for every frame published.
#[test]
fn under_an_overwriting_writer_no_frame_is_torn_and_none_uncounted() {
    let name = name("torn");
    let total = 200_000u64;
    let mut writer = RingWriter::create(&name, &config(4), false).unwrap();
    let mut reader = RingReader::open(&name, Start::Latest).unwrap();
    let go = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !go.load(std::sync::atomic::Ordering::Acquire) {
                std::hint::spin_loop();
            }
            for index in 0..total {
                publish(&mut writer, index, 0);
            }
            writer.close();
        });
        let mut out = vec![0f32; FRAME as usize];
        let (mut returned, mut last) = (0u64, None);
        go.store(true, std::sync::atomic::Ordering::Release);
        loop {
            match read(&mut reader, &mut out) {
                Next::Frame(record) => {
                    assert!(
                        last.is_none_or(|l| record.index > l),
                        "out of order: {last:?} then {}",
                        record.index
                    );
                    assert_eq!(out, pattern(record.index), "frame {} is torn", record.index);
                    assert_eq!(record.capture_ns, 1_000 + record.index);
                    last = Some(record.index);
                    returned += 1;
                }
                Next::Closed => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(returned + reader.dropped(), total, "returned {returned}, dropped {}", reader.dropped());
    });
}

#[test]
fn wait_open_waits_for_the_ring_and_gives_up_at_its_deadline() {
    let name = name("wait");
    let stop = AtomicBool::new(false);
    assert!(RingReader::wait_open(&name, Start::Latest, Duration::from_millis(50), &stop).unwrap().is_none());
    let _writer = RingWriter::create(&name, &config(8), false).unwrap();
    let reader = RingReader::wait_open(&name, Start::Latest, Duration::from_secs(5), &stop).unwrap();
    assert_eq!(reader.map(|r| r.start_index()), Some(0));
}
