"""One gzip member made of separately deflated segments, each kept while its text stays.

Most of a ``/metrics`` body comes in families (every unit's lines of one metric), and
many families read the same from one scrape to the next (channel names, ratings, bands,
breaker states, the RCBO test log) while others are new at every poll (currents,
voltages). Each segment (a family) is deflated on its own, raw deflate at zlib level 1
ended by a full flush: byte-aligned and with no reference to what came before, so the
segments laid end to end are one deflate stream. A segment is kept with its CRC-32 and
length; at the next body a segment of the same name and version (the caller's word that
its texts are the same) is not compressed again, so no older copy of a text is kept. The
segments to compress are shared by two threads (zlib lets go of the GIL while it
compresses), and the member's CRC-32 is combined from the segments' (zlib's
``crc32_combine``, which Python's zlib does not offer).

On this text, families deflated apart come to about the size of the whole body deflated
at once (a family's lines repeat within it, rarely across families): see
docs/performance.md.
"""

from __future__ import annotations

import concurrent.futures
import functools
import zlib
from collections.abc import Hashable, Sequence
from typing import NamedTuple

LEVEL = 1
"""zlib's fastest level: about a third of level 6's time for about 1.3x its size on this
text (docs/performance.md)."""
_POOL = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="metrics-gzip")
"""Compresses the segments that changed, two at a time (one per core)."""

_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, mtime 0, OS unknown
_LAST_BLOCK = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS).flush(zlib.Z_FINISH)
"""An empty final block: ends the deflate stream after the last segment's full flush."""

# ------------------------------------------------------------------------- CRC-32

_POLY = 0xEDB88320  # CRC-32's polynomial, bits reflected as zlib keeps them


def _multiply(a: int, b: int) -> int:
    """``a * b`` modulo the CRC polynomial (zlib's ``multmodp``)."""
    m, p = 1 << 31, 0
    while m:
        if a & m:
            p ^= b
            if not a & (m - 1):
                break
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
    return p


def _powers() -> tuple[int, ...]:
    """x to the 2^n, modulo the polynomial, for n = 0..31 (zlib's ``x2n_table``)."""
    p, out = 1 << 30, []
    for _ in range(32):
        out.append(p)
        p = _multiply(p, p)
    return tuple(out)


_X2N = _powers()


@functools.cache
def _shift(byte: int, value: int) -> int:
    """x to the 8 * value * 256^byte, modulo the polynomial: what appending that many
    zero bytes multiplies a CRC by (zlib's ``x2nmodp``; cached: 256 per byte of a length)."""
    p, k, n = 1 << 31, 3 + 8 * byte, value  # x^0; a byte is 2^3 bits
    while n:
        if n & 1:
            p = _multiply(_X2N[k & 31], p)
        n >>= 1
        k += 1
    return p


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of ``a + b`` from ``crc1`` of ``a``, ``crc2`` of ``b`` and ``b``'s length."""
    byte = 0
    while length2:
        if length2 & 0xFF:
            crc1 = _multiply(_shift(byte, length2 & 0xFF), crc1)
        length2 >>= 8
        byte += 1
    return crc1 ^ crc2


# ------------------------------------------------------------------------- segments


class Deflated(NamedTuple):
    """One segment: the version its texts were given with, their raw deflate, CRC-32 and
    length."""

    version: Hashable
    data: bytes
    crc: int
    length: int


def deflate(version: Hashable, parts: tuple[bytes, ...], level: int = LEVEL) -> Deflated:
    """``parts`` joined, deflated and ended by a full flush."""
    text = b"".join(parts)
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = compressor.compress(text) + compressor.flush(zlib.Z_FULL_FLUSH)
    return Deflated(version, data, zlib.crc32(text), len(text))


Segment = tuple[str, Hashable, tuple[bytes, ...]]
"""A name that stays from one body to the next (a family's), a version that is another
whenever the texts may differ from the last body's, and the texts, in order."""


class SegmentedGzip:
    """Gzip bodies of named segments, each segment compressed again only when its version
    moved (or it is new). Only the compressed segments are kept between bodies, not their
    texts. ``compressed`` counts the segments compressed, for tests and the benchmark."""

    def __init__(self, level: int = LEVEL) -> None:
        self.level = level
        self.compressed = 0
        self._kept: dict[str, Deflated] = {}

    def body(self, segments: Sequence[Segment]) -> bytes:
        """The segments' texts in order, as one gzip member. Not thread-safe: one body
        at a time."""
        kept = self._kept
        pending: list[Deflated | concurrent.futures.Future[Deflated]] = []
        for name, version, parts in segments:
            old = kept.get(name)
            if old is not None and old.version == version:
                pending.append(old)
            else:
                pending.append(_POOL.submit(deflate, version, parts, self.level))
                self.compressed += 1
        done = [p if isinstance(p, Deflated) else p.result() for p in pending]
        self._kept = {name: d for (name, _, _), d in zip(segments, done, strict=True)}
        crc = length = 0
        for d in done:
            crc = crc32_combine(crc, d.crc, d.length)
            length += d.length
        trailer = crc.to_bytes(4, "little") + (length & 0xFFFFFFFF).to_bytes(4, "little")
        return b"".join([_HEADER, *[d.data for d in done], _LAST_BLOCK, trailer])
