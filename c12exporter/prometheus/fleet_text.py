"""The fleet's text between scrapes, deflated in blocks: a batch of units, one family.

At 1,000 units a scrape's text is some 10 MB, most of it numbers that are new at every
poll; kept as text it would be the largest thing the exporter holds, kept deflated it is
under a tenth of that. The units are taken in store order, :data:`BATCH` at a time; a
batch keeps, for each family (its column, :data:`.unit_text.COLUMNS`), its units' lines
of that family deflated as one block (:mod:`.gzip_segments`), with the length of each
unit's lines in it. Units are folded in as they are rendered, a few batches at a time on
two threads, so the texts of only a few batches exist at once whatever the fleet's size:

* a batch none of whose units was rendered again is kept as it is;
* otherwise each of its blocks is inflated (the units not rendered again keep their lines
  from it), laid out again with the new lines, and kept as it was if it reads the same
  (not compressed again), else deflated anew;
* a batch whose units are not those of the batch at its place before (a unit added,
  removed or moved) takes the lines of its units not rendered again from wherever they
  were, and every block of it is deflated anew.

A block ends with a full flush, so the blocks of each family, after its header, join
into one gzip member (:func:`.gzip_segments.member`) or, inflated, into the text.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

from .gzip_segments import LEVEL, Deflated, deflate, inflate

BATCH = 64
"""Units per batch. Blocks of fewer units deflate worse (each starts with no history): at
1,000 units a body of 64-unit blocks is 1.39x the whole text gzipped at level 6, against
1.30x for whole families (docs/performance.md); larger batches hold more text while they
are folded and make a scrape that renders a few units inflate and deflate more."""
_IN_FLIGHT = 2
"""Batches being folded at once, besides the one being rendered."""
_POOL = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="metrics-gzip")
"""Folds batches, two at a time (zlib lets go of the GIL while it compresses)."""

Texts = tuple[bytes | None, ...]
"""A unit's lines of each family, by column (a column past the end: no lines; ``None``:
the lines kept for the unit, unchanged)."""


class Block(NamedTuple):
    """One family's lines of a batch's units, deflated, and each unit's length of them."""

    deflated: Deflated
    lengths: array[int]


class Batch(NamedTuple):
    """Units, in order, and their blocks by column (none for a column without lines)."""

    names: tuple[str, ...]
    blocks: dict[int, Block]


def _split(block: Block) -> list[bytes]:
    """Each unit's lines in ``block``."""
    text = inflate(block.deflated)
    ends = list(itertools.accumulate(block.lengths))
    return [text[start:end] for start, end in zip([0, *ends], ends, strict=False)]


def _lines(unit: Texts | None, column: int, kept: bytes) -> bytes:
    """A unit's lines of one family: those given, or ``kept``."""
    if unit is None:
        return kept
    text = unit[column] if column < len(unit) else b""
    return kept if text is None else text


def _merged(unit: Texts | None, kept: Texts) -> Texts:
    """``unit``'s lines, ``kept``'s where it has ``None`` (or for all if it is ``None``)."""
    if unit is None:
        return kept
    columns = range(max(len(unit), len(kept)))
    return tuple(_lines(unit, c, kept[c] or b"" if c < len(kept) else b"") for c in columns)


def fold(
    old: Batch | None, names: tuple[str, ...], texts: Sequence[Texts | None], level: int
) -> tuple[Batch, int]:
    """The batch of ``names`` whose units' lines are ``texts`` (``None``, for a unit or a
    family: its lines in ``old``, which then has the same names), and how many blocks were
    deflated."""
    columns = set(old.blocks) if old is not None else set()
    for unit in texts:
        if unit is not None:
            columns.update(c for c, text in enumerate(unit) if text)
    blocks: dict[int, Block] = {}
    deflated = 0
    for column in sorted(columns):
        before = old.blocks.get(column) if old is not None else None
        kept = _split(before) if before is not None else None
        parts = [
            _lines(unit, column, kept[i] if kept is not None else b"")
            for i, unit in enumerate(texts)
        ]
        lengths = array("I", map(len, parts))
        if before is not None and kept is not None and lengths == before.lengths and parts == kept:
            blocks[column] = before
        elif any(lengths):
            blocks[column] = Block(deflate(b"".join(parts), level), lengths)
            deflated += 1
    return Batch(names, blocks), deflated


class _Moved:
    """The lines of units whose batch changed, from the batches they were in (each such
    batch inflated once)."""

    def __init__(self, batches: Sequence[Batch]) -> None:
        self._batches = batches
        self._where: dict[str, tuple[int, int]] | None = None
        self._inflated: dict[int, dict[int, list[bytes]]] = {}

    def texts(self, name: str) -> Texts:
        if self._where is None:
            self._where = {
                name: (b, i)
                for b, batch in enumerate(self._batches)
                for i, name in enumerate(batch.names)
            }
        b, i = self._where[name]
        if b not in self._inflated:
            self._inflated[b] = {c: _split(block) for c, block in self._batches[b].blocks.items()}
        by_column = self._inflated[b]
        columns = range(max(by_column, default=-1) + 1)
        return tuple(by_column[c][i] if c in by_column else b"" for c in columns)


class FleetText:
    """The fleet's lines, family by family, kept deflated in batches of units.
    ``compressed`` counts the blocks deflated, for tests and the benchmark."""

    def __init__(self, level: int = LEVEL) -> None:
        self.level = level
        self.compressed = 0
        self._batches: list[Batch] = []

    def clear(self) -> None:
        """Forget every unit's lines (each will be given again)."""
        self._batches = []

    def update(self, units: Iterable[tuple[str, Texts | None]]) -> None:
        """Every unit of the fleet, in order, with its lines (``None``: those kept for it,
        which it must have). Units not given are forgotten."""
        old_batches = self._batches
        moved = _Moved(old_batches)
        done: list[Batch] = []
        folding: collections.deque[concurrent.futures.Future[tuple[Batch, int]]] = (
            collections.deque()
        )

        def finish_one() -> None:
            batch, deflated = folding.popleft().result()
            done.append(batch)
            self.compressed += deflated

        def submit(names: tuple[str, ...], texts: list[Texts | None]) -> None:
            at = len(done) + len(folding)
            old = old_batches[at] if at < len(old_batches) else None
            if old is not None and old.names != names:
                old = None
                texts = [
                    t if t is not None and None not in t else _merged(t, moved.texts(n))
                    for n, t in zip(names, texts, strict=True)
                ]
            if old is not None and all(t is None for t in texts):
                future: concurrent.futures.Future[tuple[Batch, int]] = concurrent.futures.Future()
                future.set_result((old, 0))
            else:
                future = _POOL.submit(fold, old, names, texts, self.level)
            folding.append(future)
            while len(folding) > _IN_FLIGHT:
                finish_one()

        try:
            for batch in _batched(units):
                names, texts = zip(*batch, strict=True)
                submit(names, list(texts))
            while folding:
                finish_one()
        finally:
            for future in folding:
                future.cancel()
        self._batches = done

    def blocks(self, column: int) -> Iterator[Deflated]:
        """The deflated blocks of one family's lines, in order."""
        for batch in self._batches:
            block = batch.blocks.get(column)
            if block is not None:
                yield block.deflated

    def text(self, column: int) -> bytes:
        """One family's lines (inflated)."""
        return b"".join(map(inflate, self.blocks(column)))


def _batched(
    units: Iterable[tuple[str, Texts | None]],
) -> Iterator[tuple[tuple[str, Texts | None], ...]]:
    """``units`` :data:`BATCH` at a time (``itertools.batched`` from Python 3.12)."""
    iterator = iter(units)
    while batch := tuple(itertools.islice(iterator, BATCH)):
        yield batch
