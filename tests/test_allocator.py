"""The C allocator as ``serve`` sets it: large blocks mapped apart however many were
freed before (glibc; see :mod:`c12exporter.allocator`)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

MAPPED_AFTER_A_FREE = """
import ctypes, sys
from c12exporter.allocator import map_large_blocks_apart

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks",
                "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "set":
    assert map_large_blocks_apart()
block = libc.malloc(1 << 20)  # mapped apart: above the starting threshold
libc.free(block)  # glibc's own rule raises the threshold to 1 MiB here
before = libc.mallinfo2().hblks  # blocks mapped apart (the interpreter's own too)
block = libc.malloc(1 << 20)
print(libc.mallinfo2().hblks - before)
libc.free(block)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
@pytest.mark.parametrize("setting, mapped", [("set", "1"), ("glibc's own", "0")])
def test_a_large_block_is_mapped_apart_even_after_one_was_freed(setting: str, mapped: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", MAPPED_AFTER_A_FREE, setting],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [mapped]
