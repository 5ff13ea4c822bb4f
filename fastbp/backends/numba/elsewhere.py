"""The body of a kernel's background compile in a process of its own (``backend._Elsewhere``).

Reads a pickled (module, function name, Numba signature) from stdin and
compiles that compiled entry point (``cache.compiled``) for it, which saves
it in the cache folder, where the process that started this one loads it.
"""

from __future__ import annotations

import importlib
import pickle
import sys


def main() -> None:
    module, name, sig = pickle.loads(sys.stdin.buffer.read())
    getattr(importlib.import_module(module), name).compile(sig)


if __name__ == "__main__":
    main()
