"""The folder for derived, rebuildable files of the installed libraries (one job: find a writable one)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def cache_dir() -> Path:
    """Where derived, rebuildable files of the installed libraries live (jieba's dictionary, the USE model's
    parsed tokenizer and unpacked weights): inside the venv, because they depend on its package versions and
    go away with it; a per-user temp folder when the venv is read-only (a container image built without them)."""
    for base in (Path(sys.prefix) / "var" / "policy-assistant", Path(tempfile.gettempdir()) / f"policy-assistant-{os.getuid()}"):
        try:
            base.mkdir(parents=True, exist_ok=True)
            if os.access(base, os.W_OK):
                return base
        except OSError:
            continue
    raise OSError("no writable cache folder")
