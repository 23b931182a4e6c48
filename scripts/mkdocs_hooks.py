"""MkDocs hooks: the repository files the docs show, taken from where they live.

The ring's layout spec (``layout/LAYOUT.md``) and the benches' results (tables, JSON and
plots in ``bench/results/``) are part of the site under their repository paths, so a
page links to ``bench/results/suite.md`` or shows ``bench/results/long_tail_4reader.png``
and ``mkdocs build --strict`` checks the link. Nothing is copied into ``docs/`` by
hand: the site always has the files as committed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
SHOWN = ["layout/LAYOUT.md", "bench/results/*.md", "bench/results/*.png", "bench/results/*.json"]


def on_files(files: Files, config: Any) -> Files:
    for pattern in SHOWN:
        for path in sorted(ROOT.glob(pattern)):
            if path.name.startswith("partial."):
                continue  # a partial bench run's scratch results, never committed
            uri = path.relative_to(ROOT).as_posix()
            files.append(File(uri, str(ROOT), config["site_dir"], config["use_directory_urls"]))
    return files
