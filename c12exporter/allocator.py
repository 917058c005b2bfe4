"""The C allocator set for a long-running exporter.

Every scrape makes and frees blocks of a few hundred KiB: each changed family's joined
text and zlib's state while it compresses it, the body. glibc's malloc maps a block that
large apart from its heap, but each time it frees one it raises that threshold to the
block's size (up to 32 MiB); from then on such blocks are cut from the heap, and the holes
they leave between longer-lived objects stay resident. Fixed at glibc's own starting
threshold, they are mapped apart and given back whole when freed: at 1,000 units, about
5 MiB less resident (docs/performance.md, "Malloc's mmap threshold fixed").
"""

from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3
"""``mallopt`` parameter (glibc's ``malloc.h``)."""
LARGE_BLOCK = 128 * 1024
"""Blocks from this size up are mapped apart (glibc's starting threshold)."""


def map_large_blocks_apart() -> bool:
    """Fix malloc's mmap threshold at :data:`LARGE_BLOCK`; ``False`` where the C library
    has no such setting (not glibc) or refuses it, and nothing changes."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK))
