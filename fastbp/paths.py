"""Where fastbp keeps files of its own: one user cache folder.

``cache_dir()`` is ``$FASTBP_CACHE_DIR`` when set, else
``$XDG_CACHE_HOME/fastbp`` (an absolute path), else the platform's user
cache folder: ``~/Library/Caches/fastbp`` on macOS, ``%LOCALAPPDATA%\\fastbp``
on Windows, ``~/.cache/fastbp`` elsewhere. Downloaded data sets, compiled
kernels and the GPU's kernel decisions live in subfolders of it, so nothing
is written next to the installed package.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """fastbp's user cache folder, or the subfolder ``parts`` of it (not created)."""
    base = os.environ.get("FASTBP_CACHE_DIR", "")
    if base:
        return Path(base).expanduser().joinpath(*parts)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        root = Path(xdg)
    elif sys.platform == "darwin":
        root = Path.home() / "Library" / "Caches"
    elif sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        root = Path(os.environ["LOCALAPPDATA"])
    else:
        root = Path.home() / ".cache"
    return root.joinpath("fastbp", *parts)
