"""One gzip member made of separately deflated segments.

Most of a ``/metrics`` body comes in families (every unit's lines of one metric), and
many families read the same from one scrape to the next (channel names, ratings, bands,
breaker states, the RCBO test log) while others are new at every poll (currents,
voltages). Each segment (a family's header, a block of a family's lines:
:mod:`.fleet_text`) is deflated on its own, raw deflate at zlib level 1 ended by a full
flush: byte-aligned and with no reference to what came before, so segments laid end to
end in any order are one deflate stream. A segment is kept with its CRC-32 and length,
and the member's CRC-32 is combined from the segments' (zlib's ``crc32_combine``, which
Python's zlib does not offer), so a segment whose text did not change is neither
compressed again nor kept as text.

On this text, families deflated apart come to about the size of the whole body deflated
at once (a family's lines repeat within it, rarely across families): see
docs/performance.md."""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable, Sequence
from typing import NamedTuple

LEVEL = 1
"""zlib's fastest level: about a third of level 6's time for about 1.3x its size on this
text (docs/performance.md)."""

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


@functools.lru_cache(maxsize=16384)
def _zeros(length: int) -> int:
    """x to the 8 * length, modulo the polynomial: what appending ``length`` zero bytes
    multiplies a CRC by (cached: segments keep their lengths from one body to the next)."""
    p, byte = 1 << 31, 0  # x^0
    while length:
        if length & 0xFF:
            p = _multiply(_shift(byte, length & 0xFF), p)
        length >>= 8
        byte += 1
    return p


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of ``a + b`` from ``crc1`` of ``a``, ``crc2`` of ``b`` and ``b``'s length."""
    return _multiply(_zeros(length2), crc1) ^ crc2 if length2 else crc1 ^ crc2


# ------------------------------------------------------------------------- segments


class Deflated(NamedTuple):
    """One segment: its text's raw deflate (ended by a full flush), CRC-32 and length."""

    data: bytes
    crc: int
    length: int


def deflate(text: bytes, level: int = LEVEL) -> Deflated:
    """``text`` deflated and ended by a full flush."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = compressor.compress(text) + compressor.flush(zlib.Z_FULL_FLUSH)
    return Deflated(data, zlib.crc32(text), len(text))


def inflate(segment: Deflated) -> bytes:
    """The text ``segment`` was deflated from (a stream without its end, which
    ``zlib.decompress`` refuses)."""
    return zlib.decompressobj(-zlib.MAX_WBITS).decompress(segment.data)


def member(segments: Iterable[Deflated]) -> bytes:
    """The segments' texts in order, as one gzip member."""
    crc = length = 0
    data = [_HEADER]
    for segment in segments:
        crc = crc32_combine(crc, segment.crc, segment.length)
        length += segment.length
        data.append(segment.data)
    trailer = crc.to_bytes(4, "little") + (length & 0xFFFFFFFF).to_bytes(4, "little")
    return b"".join([*data, _LAST_BLOCK, trailer])


class KeptDeflates:
    """Texts deflated once and kept while they come again from one body to the next (the
    exporter's own metrics, the families' headers): a text given again, equal or the same
    object, is not compressed again. ``compressed`` counts the texts compressed."""

    def __init__(self, level: int = LEVEL) -> None:
        self.level = level
        self.compressed = 0
        self._kept: dict[bytes, Deflated] = {}

    def deflated(self, texts: Sequence[bytes]) -> list[Deflated]:
        """Each text deflated; only these are kept for the next call."""
        kept = {}
        for text in texts:
            segment = self._kept.get(text)
            if segment is None:
                segment = deflate(text, self.level)
                self.compressed += 1
            kept[text] = segment
        self._kept = kept
        return [kept[text] for text in texts]
