#!/usr/bin/env bash
# Fetches the Silero VAD model (MIT) from the PyPI wheel silero-vad==6.2.3 into
# models/silero_vad/, without installing the wheel (its torch dependency is not
# needed). Safe to run again. ONNX Runtime itself comes from the .venv
# (onnxruntime==1.31.1 in requirements-dev.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

dest=models/silero_vad
[[ -f $dest/silero_vad.onnx && -f $dest/LICENSE ]] && exit 0

wheels=build/wheels
mkdir -p "$wheels" "$dest"
.venv/bin/pip download -q --disable-pip-version-check --no-deps silero-vad==6.2.3 -d "$wheels"
.venv/bin/python - "$wheels"/silero_vad-6.2.3-*.whl "$dest" <<'PY'
import sys, zipfile, pathlib
wheel, dest = sys.argv[1], pathlib.Path(sys.argv[2])
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        path = pathlib.PurePosixPath(name)
        if name.startswith("silero_vad/data/") and path.suffix == ".onnx":
            (dest / path.name).write_bytes(z.read(name))
        elif path.name == "LICENSE" and ".dist-info/" in name:
            (dest / "LICENSE").write_bytes(z.read(name))
PY
echo "fetched the Silero VAD model into $dest"
