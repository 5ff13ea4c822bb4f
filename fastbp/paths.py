"""Files: where fastbp keeps its own (one user cache folder), and how it
writes and describes the user's.

``cache_dir()`` is ``$FASTBP_CACHE_DIR`` when set, else
``$XDG_CACHE_HOME/fastbp`` (an absolute path), else the platform's user
cache folder: ``~/Library/Caches/fastbp`` on macOS, ``%LOCALAPPDATA%\\fastbp``
on Windows, ``~/.cache/fastbp`` elsewhere. Downloaded data sets, compiled
kernels and the GPU's kernel decisions live in subfolders of it, so nothing
is written next to the installed package.

``replace_file`` writes a user's file whole or not at all, with the
permissions the user's umask gives; ``unwritable`` and ``write_failure`` say
in words why a file cannot be written; ``text_start`` tells a text file (a
CSV given where fastbp expects NumPy's binary files) by its first bytes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def cache_dir(*parts: str) -> Path:
    """fastbp's user cache folder, or a subfolder of it (not created).

    Parameters
    ----------
    *parts : str
        The subfolder's path below the cache folder (none: the folder itself).

    Returns
    -------
    pathlib.Path
        ``$FASTBP_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/fastbp``, else
        the platform's user cache folder, joined with ``parts``.
    """
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


def unwritable(path: str) -> str | None:
    """Why a file cannot be written at ``path`` as far as the disk tells
    before trying (``path`` a directory, its folder missing or not
    writable), or None."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return "it is a directory; give a file name"
    if not os.path.isdir(folder):
        what = "is not a folder" if os.path.exists(folder) else "does not exist"
        return f"the folder {folder!r} {what}"
    if not os.access(folder, os.W_OK):
        return f"no permission to write in the folder {folder!r}"
    return None


def write_failure(path: str, exc: OSError) -> str:
    """Why writing ``path`` failed with ``exc``, in words (never the name of
    a temporary file)."""
    found = unwritable(path)
    if found is not None:
        return found
    if exc.errno == errno.ENOSPC:
        return "the disk is full (no space left on device)"
    if exc.errno == errno.EDQUOT:
        return "the disk quota is exceeded"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if isinstance(exc, PermissionError):
        return f"no permission to write {path!r}"
    return exc.strerror or type(exc).__name__


def replace_file(path: str, write: Callable[[BinaryIO], object]) -> None:
    """Writes the file ``path`` by ``write(f)`` into a new file beside it,
    synced to disk and renamed over ``path`` when complete: a failure (disk
    full, no permission, Ctrl-C) leaves any previous file at ``path`` as it
    was, and removes the new one. The file gets the permissions of a file
    the user creates (0o666 less the umask). Raises OSError."""
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    while True:
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def text_start(head: bytes) -> str | None:
    """The first line of a file whose first bytes ``head`` are text (UTF-8,
    no control characters but tabs and line ends), shortened; None for
    binary bytes."""
    for cut in range(4):  # the bytes may end inside a character
        try:
            text = head[: len(head) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    else:
        return None
    if not text.strip() or any(c < " " and c not in "\t\r\n" for c in text):
        return None
    line = text.strip().splitlines()[0]
    return line if len(line) <= 40 else line[:37] + "..."
