"""Proves the tests hold the docs' claims: each mutation below is a small deliberate
bug in the shipped code; the test named next to it must fail on it, every time.

    .venv/bin/python tests/mutation_check.py [--repeat 3] [--only NAME]
    .venv/bin/python tests/mutation_check.py --check   # each mutation still applies


Each mutation is applied to the working tree, the test run (after rebuilding what it
needs), and the file restored, whatever happens. Not part of `make test` (it rebuilds
the engine several times); run it after changing a test or the code a claim rests on.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parent.parent
PYTEST = [
    str(ROOT / ".venv" / "bin" / "python"),
    "-m",
    "pytest",
    "-q",
    "-x",
    "-p",
    "no:cacheprovider",
]
BUILD = ["cargo", "build", "--release", "--locked", "-q", "--features", "v2m-engine/pipewire"]
LOOM = [
    "cargo",
    "test",
    "--release",
    "--locked",
    "-q",
    "-p",
    "v2m-layout",
    "--test",
    "loom_seqlock",
]
LOOM_ENV = {"RUSTFLAGS": "--cfg loom", "CARGO_TARGET_DIR": str(ROOT / "target" / "loom")}


@dataclass
class Mutation:
    name: str
    claim: str
    path: str
    old: str
    new: str
    test: List[str]
    build: bool = False
    env: dict[str, str] | None = None


MUTATIONS = [
    Mutation(
        "second stamp check",
        "a reader never accepts a torn frame",
        "pyclient/v2m/slots.py",
        "        if int(stamps[slot]) != expected:\n            return None\n",
        "",
        PYTEST + ["tests/test_torn_frames.py"],
    ),
    Mutation(
        "valid() always true",
        "valid() tells a view overwritten after use",
        "pyclient/v2m/frame.py",
        "return int(self._stamps[self._slot]) == self._stamp",
        "return True",
        PYTEST + ["tests/test_torn_frames.py"],
    ),
    Mutation(
        "writer's Release fence",
        "the writer's fences make the seqlock sound",
        "layout/src/seqlock.rs",
        "    fence(Ordering::Release);\n    for (dst",
        "    for (dst",
        LOOM,
        env=LOOM_ENV,
    ),
    Mutation(
        "reader's Acquire fence",
        "the reader's fence makes the seqlock sound",
        "layout/src/seqlock.rs",
        "    fence(Ordering::Acquire);\n    (stamp.load",
        "    (stamp.load",
        LOOM,
        env=LOOM_ENV,
    ),
    Mutation(
        "ARM reader's first fence",
        "the ARM64 reader's fences make the seqlock sound with relaxed loads",
        "layout/tests/loom_seqlock.rs",
        "        fence(Ordering::SeqCst); // the stamp before the copy",
        "",
        LOOM,
        env=LOOM_ENV,
    ),
    Mutation(
        "ARM reader's second fence",
        "the ARM64 reader's fences make the seqlock sound with relaxed loads",
        "layout/tests/loom_seqlock.rs",
        "        fence(Ordering::SeqCst); // the copy before the stamp's second load",
        "",
        LOOM,
        env=LOOM_ENV,
    ),
    Mutation(
        "ARM reader trusts an early stamp",
        "an ARM64 reader never counts a published frame lost",
        "layout/tests/loom_seqlock.rs",
        "            fence(Ordering::SeqCst); // a stamp older than the seq: look again",
        "",
        LOOM,
        env=LOOM_ENV,
    ),
    Mutation(
        "futex wait polls",
        "a waiting reader costs no CPU; nothing polls",
        "pyclient/v2m/futex.py",
        "    timeout_s = max(0.0, timeout_s)\n",
        "    import time\n\n    time.sleep(0.0005)\n    return\n",
        PYTEST + ["tests/test_reader_claims.py", "-k", "cpu"],
    ),
    Mutation(
        "close unmaps under views",
        "every view keeps the mapping alive, even after reader.close()",
        "pyclient/v2m/mapping.py",
        "np.frombuffer(self._map, np.uint8)",
        "np.ndarray((len(self._map),), np.uint8, buffer=self._map)",
        PYTEST + ["tests/test_reader_claims.py", "-k", "views"],
    ),
    Mutation(
        "Silero keeps its state",
        "Silero's context and state reset on a discontinuity",
        "engine/src/vad/silero/mod.rs",
        "        if frame.discontinuity {\n            self.reset();\n        }\n",
        "        let _ = Self::reset;\n",
        PYTEST + ["tests/test_silero.py", "-k", "discontinuity"],
        build=True,
    ),
    Mutation(
        "no min_speech filter",
        "utterances shorter than min_speech_ms are dropped",
        "pyclient/v2m/segmenter.py",
        "            if silence_from - start >= self.min_speech or self._continued:",
        "            if True:",
        PYTEST + ["tests/test_utterance_rules.py"],
    ),
    Mutation(
        "pads may overlap",
        "pads of neighbouring utterances never overlap",
        "pyclient/v2m/segmenter.py",
        "max(start - self.pad, self._floor)",
        "max(start - self.pad, 0)",
        PYTEST + ["tests/test_utterance_rules.py"],
    ),
    Mutation(
        "no cut at a discontinuity",
        "utterances are cut at a discontinuity",
        "pyclient/v2m/segmenter.py",
        "        if discontinuity:",
        "        if False:",
        PYTEST + ["tests/test_utterance_rules.py"],
    ),
    Mutation(
        "energy floor window 0.1 s",
        "the energy VAD's noise floor looks back 3 s",
        "engine/src/vad/energy.rs",
        "FLOOR_WINDOW_S: f32 = 3.0;",
        "FLOOR_WINDOW_S: f32 = 0.1;",
        ["cargo", "test", "--release", "--locked", "-q", "-p", "v2m-engine", "energy"],
    ),
    Mutation(
        "energy midpoint 12 dB",
        "the energy VAD's probability is 0.5 at 10 dB over the floor",
        "engine/src/vad/energy.rs",
        "SNR_MIDPOINT_DB: f32 = 10.0;",
        "SNR_MIDPOINT_DB: f32 = 12.0;",
        ["cargo", "test", "--release", "--locked", "-q", "-p", "v2m-engine", "energy"],
    ),
    Mutation(
        "Python skips slot_bytes",
        "the Python validator checks every field",
        "pyclient/v2m/layout.py",
        "    if slot_bytes != frame * channels * 4:",
        "    if False:",
        PYTEST + ["tests/test_validators_agree.py"],
    ),
    Mutation(
        "Python skips meta_stride",
        "the Python validator checks every field",
        "pyclient/v2m/layout.py",
        "    if not SLOT_META_SIZE <= stride <= MAX_META_STRIDE or stride % 8:",
        "    if False:",
        PYTEST + ["tests/test_validators_agree.py"],
    ),
    Mutation(
        "same rate resampled",
        "a mono file at the ring rate passes through bit-exact",
        "engine/src/dsp/pipeline.rs",
        "if source_rate != ring_rate {",
        "if true {",
        ["cargo", "test", "--release", "--locked", "-q", "-p", "v2m-engine", "pipeline"],
    ),
    Mutation(
        "channel map ignored",
        "each channel a map picks reaches the ring bit-exact, in the map's order",
        "engine/src/dsp/channels.rs",
        "*d = frame[c];",
        "*d = frame[0];",
        ["cargo", "test", "--release", "--locked", "-q", "-p", "v2m-engine", "channels"],
    ),
    Mutation(
        "PipeWire format from the listing",
        "the PipeWire host delivers what was played, at full level",
        "engine/src/source/capture/mod.rs",
        "    if device.host == AudioHost::PipeWire {",
        "    if device.host == AudioHost::Alsa {",
        PYTEST + ["tests/test_audio_hosts.py", "-k", "delivers and pipewire"],
        build=True,
    ),
    Mutation(
        "an unplugged PulseAudio source goes unnoticed",
        "a device that disappears is waited for and opened again when it returns",
        "engine/src/source/capture/source_watch.rs",
        "if was_present && !present {",
        "if was_present && !present && false {",
        PYTEST + ["tests/test_devices_come_and_go.py", "-k", "disappears"],
        build=True,
    ),
    Mutation(
        "a default-source change is not flagged",
        "a change of the default source is followed, flagged SOURCE_RESTART",
        "engine/src/source/capture/mod.rs",
        "            self.restarted = true;\n        }\n    }\n}",
        "        }\n    }\n}",
        PYTEST + ["tests/test_devices_come_and_go.py", "-k", "default and pipewire"],
        build=True,
    ),
    Mutation(
        "auto ignores PipeWire",
        "--host auto leaves ALSA on a PipeWire server",
        "engine/src/source/capture/sound_server.rs",
        'Some(name) if name.starts_with("pipewire") => SoundServer::PipeWire { pulse: false },',
        "Some(name) if name.is_empty() => SoundServer::PipeWire { pulse: false },",
        PYTEST + ["tests/test_audio_hosts.py", "-k", "auto"],
        build=True,
    ),
    Mutation(
        "PipeWire buffers of 5 ms",
        "the PipeWire host captures with 20 ms buffers by default",
        "engine/src/source/capture/devices.rs",
        "AudioHost::PipeWire => 20,",
        "AudioHost::PipeWire => 5,",
        PYTEST + ["tests/test_audio_hosts.py", "-k", "delivers and pipewire"],
        build=True,
    ),
    Mutation(
        "log through fd 2",
        "no log line is lost while devices are probed",
        "engine/src/log.rs",
        "let mut sink = std::fs::File::from(stderr_copy);",
        "let mut sink = std::io::stderr();\n    drop(stderr_copy);",
        PYTEST + ["tests/test_audio_hosts.py", "-k", "no_sound_server"],
        build=True,
    ),
    Mutation(
        "reads not cut at a loss",
        "a lost stretch is flagged on the frame that holds the gap",
        "engine/src/source/capture/queue.rs",
        ".map_or(reach, |at| (at - self.position) as usize);",
        ".map_or(reach, |_| reach);",
        ["cargo", "test", "--release", "--locked", "-q", "-p", "v2m-engine", "capture::queue"],
    ),
    Mutation(
        "loss counted where the reader is",
        "a lost stretch is flagged on the frame that holds the gap",
        "engine/src/source/capture/callback.rs",
        "lost_before: self.lost,",
        "lost_before: 0,",
        PYTEST + ["tests/test_capture.py", "-k", "gap"],
        build=True,
    ),
    Mutation(
        "stall counts the engine's own pause",
        "a device is reopened only when it, not the engine, went quiet",
        "engine/src/source/capture/mod.rs",
        "self.waited += since_last_look.min(MAX_COUNTED_WAIT);",
        "self.waited += since_last_look;",
        PYTEST + ["tests/test_capture_faults.py", "-k", "not_running"],
        build=True,
    ),
    Mutation(
        "utterances hold only the frame read",
        "a pacing reader's utterances are the file's audio, however slow the consumer",
        "pyclient/v2m/utterances.py",
        "        reader.keep_from(segmenter.oldest_needed())\n    for span",
        "        reader.keep_from(None)\n    for span",
        PYTEST + ["tests/test_lossless.py", "-k", "utterances and views"],
    ),
    Mutation(
        "complete despite a lost frame",
        "an utterance that is missing audio says so",
        "pyclient/v2m/utterances.py",
        "    complete = complete and dropped == 0\n",
        "",
        PYTEST + ["tests/test_lossless.py", "-k", "too_small"],
    ),
    Mutation(
        "engine liveness by flock",
        "a group reader cannot keep a dead engine alive",
        "ring/src/shm/inspect.rs",
        "        if self.minor >= writer_lock::SINCE_MINOR {",
        "        if false {",
        PYTEST + ["tests/test_group_reader.py"],
        build=True,
    ),
    Mutation(
        "reader liveness by flock",
        "a group reader cannot keep a dead engine alive",
        "pyclient/v2m/liveness.py",
        "    if version >= WRITE_LOCK_SINCE:\n        return write_locked(fd)\n",
        "",
        PYTEST + ["tests/test_group_reader.py"],
    ),
    Mutation(
        "spawn takes any ring",
        "spawn() hands out only its own child's ring",
        "pyclient/v2m/spawn.py",
        "        made_by_it = info.writer_pid == pid and info.created_mono_ns >= launched_ns",
        "        made_by_it = True",
        PYTEST + ["tests/test_spawn.py", "-k", "live_engine or lingering"],
    ),
    Mutation(
        "between-threshold frames reset the silence",
        "the engine's flag follows Silero's rule, as the Python one does",
        "engine/src/vad/hysteresis.rs",
        "            None => {}\n",
        "            None => {}\n        }\n        if probability >= self.neg_threshold {\n"
        "            self.quiet_for = None;\n",
        ["cargo", "test", "--release", "--locked", "-q", "-p", "v2m-engine", "hysteresis"],
    ),
    Mutation(
        "events ignore the header's end threshold",
        "vad_events() and utterances() decide as the engine does",
        "pyclient/v2m/speech.py",
        "        if neg_threshold is None:\n            neg_threshold = info.vad_neg_threshold\n",
        "",
        PYTEST + ["tests/test_speech_rule.py", "-k", "end_threshold"],
    ),
    Mutation(
        "exporter keeps silent connections",
        "no local user can tie up the exporter",
        "pyclient/v2m/tools/metrics_http.py",
        "            for conn in [c for c in self._connections.values() if now > c.deadline]:",
        "            for conn in []:",
        PYTEST + ["tests/test_exporter_hardening.py", "-k", "silent"],
    ),
    Mutation(
        "recorder counts what it meant to write",
        "a full disk leaves a header that matches the file",
        "pyclient/v2m/tools/wavfile.py",
        "                self.samples += done // self._width",
        "                self.samples += len(view) // self._width",
        PYTEST + ["tests/test_recorder_hardening.py", "-k", "full_disk"],
    ),
]


def run(mutation: Mutation) -> bool:
    """True if the test failed on the mutation (the claim is held)."""
    path = ROOT / mutation.path
    original = path.read_text()
    if original.count(mutation.old) != 1:
        raise SystemExit(f"{mutation.name}: the code to mutate is not found once in {path}")
    env = dict(os.environ, **(mutation.env or {}))
    try:
        path.write_text(original.replace(mutation.old, mutation.new))
        if mutation.build:
            subprocess.run(BUILD, cwd=ROOT, check=True)
        result = subprocess.run(mutation.test, cwd=ROOT, env=env, capture_output=True)
        return result.returncode != 0
    finally:
        path.write_text(original)
        if mutation.build:
            subprocess.run(BUILD, cwd=ROOT, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each test per mutation")
    parser.add_argument("--only", help="run the mutations whose name contains this")
    parser.add_argument(
        "--check",
        action="store_true",
        help="only check that each mutation's code is still there, once (make test does)",
    )
    args = parser.parse_args()
    if args.check:
        stale = [m.name for m in MUTATIONS if (ROOT / m.path).read_text().count(m.old) != 1]
        for name in stale:
            print(f"stale mutation: {name}: its code is not found once in its file")
        return 1 if stale else 0
    survivors = 0
    for m in MUTATIONS:
        if args.only and args.only not in m.name:
            continue
        caught = sum(run(m) for _ in range(args.repeat))
        survivors += caught < args.repeat
        print(f"{caught}/{args.repeat} caught  {m.name:<28} ({m.claim})", flush=True)
    print("every mutation caught every time" if not survivors else f"{survivors} survived")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
