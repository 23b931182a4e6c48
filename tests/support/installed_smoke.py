"""What a user does first with an installed wheel, run by that installation's Python
(the x86_64 wheel test, and ``make test-arm64`` inside the arm64 root): find the engine,
ask its version, spawn it on a speech file and read utterances (Silero, the native
kernel unless ``--vad-backend`` says otherwise) blocking and with asyncio, and ask the
tools for their help. Imports nothing but the installed ``v2m``; prints one JSON object.

    python installed_smoke.py SPEECH.wav [--vad-backend ort] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any, Dict

import v2m


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("speech", type=Path)
    parser.add_argument("--vad-backend", default=None)
    parser.add_argument("--timeout", type=float, default=10.0, help="for the engine to start")
    args = parser.parse_args()
    engine = Path(v2m.find_engine())
    report: Dict[str, Any] = {
        "engine": str(engine),
        "engine_version": _run(engine, "--version")["stdout"].strip(),
        "package_version": v2m.__version__,
    }
    # Lingering after the file ends lets the second reader attach; leaving the block stops it.
    options: Dict[str, Any] = {"speed": "max", "linger": args.timeout, "timeout": args.timeout}
    if args.vad_backend:
        options["vad_backend"] = args.vad_backend
    with v2m.spawn(source=f"file:{args.speech}", **options) as running:
        with running.reader() as reader:
            report["vad_kind"] = reader.info.vad_kind
            report["utterances"] = len(list(reader.utterances()))

        async def frames() -> int:
            with running.reader() as reader:
                return len([frame async for frame in reader.aiter()])

        report["frames"] = asyncio.run(frames())
    # The tools are console scripts beside the engine (pip puts both in one bin/).
    for tool in ("v2m-monitor", "v2m-record"):
        report[tool] = _run(engine.with_name(tool), "--help")
    print(json.dumps(report))


def _run(program: Path, *args: str) -> Dict[str, Any]:
    done = subprocess.run([str(program), *args], capture_output=True, text=True, timeout=60)
    return {"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr}


if __name__ == "__main__":
    main()
