"""ALSA `type file` PCMs: capture devices that replay raw files exactly.

Over the `null` slave a file PCM delivers the file's samples as fast as the CPU
allows (no clock) and repeats stale data past the end, so a test captures exactly
the file's length with --duration. The `plug` around it converts nothing when the
engine asks for the file's own format.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Iterable, NamedTuple

PCM = """
pcm.{name} {{
    type plug
    slave {{
        pcm {{
            type file
            slave.pcm "null"
            file "/dev/null"
            infile "{infile}"
            format "raw"
        }}
        format S16_LE
        rate {rate}
        channels {channels}
    }}
    hint {{
        show on
        description "{description}"
    }}
}}
"""


class FilePcm(NamedTuple):
    """A device `name` replaying `infile` (raw s16le, `channels` interleaved)."""

    name: str
    infile: Path
    rate: int
    channels: int
    description: str


def alsa_env(conf: Path, pcms: Iterable[FilePcm]) -> Dict[str, str]:
    """Writes the PCMs' configuration to `conf`; the environment in which ALSA
    (and so the engine) sees them beside the system's own devices."""
    conf.write_text("".join(PCM.format(**pcm._asdict()) for pcm in pcms))
    return dict(os.environ, ALSA_CONFIG_PATH=f"/usr/share/alsa/alsa.conf:{conf}")
