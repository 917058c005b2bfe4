"""The fleet's text kept deflated in batches of units: what goes in comes out, in order,
through units rendered again, added, removed and moved, and a block is compressed again
only when its text changed."""

from __future__ import annotations

import zlib

from c12exporter.prometheus.fleet_text import BATCH, FleetText, Texts
from c12exporter.prometheus.gzip_segments import member


def lines(name: str, poll: int, columns: int = 3) -> Texts:
    """A unit's lines: column 0 never changes, the others change with ``poll``; a unit
    named ``quiet*`` has no lines in column 2."""
    texts = [f'c12_info{{pdu="{name}"}} 1.0\n'.encode()]
    for column in range(1, columns):
        texts.append(
            b"" if column == 2 and name.startswith("quiet")
            else f'c12_x{column}{{pdu="{name}"}} {poll * 7 + column}.0\n'.encode()
        )  # fmt: skip
    return tuple(texts)


def expected(units: dict[str, Texts], column: int) -> bytes:
    return b"".join(t[column] if column < len(t) else b"" for t in units.values())


def check(text: FleetText, units: dict[str, Texts], columns: int = 3) -> None:
    for column in range(columns):
        assert text.text(column) == expected(units, column), column
        decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)  # checks CRC and length
        assert decompressor.decompress(member(text.blocks(column))) == expected(units, column)
        assert decompressor.eof


def test_units_in_batches_come_out_in_order_and_unchanged_blocks_are_kept() -> None:
    names = [f"u{i:03d}" if i % 5 else f"quiet{i:03d}" for i in range(2 * BATCH + 10)]
    units = {n: lines(n, 0) for n in names}
    text = FleetText()
    text.update(units.items())
    check(text, units)
    assert text.compressed == 3 * 3  # three batches, three columns each

    text.update((n, None) for n in names)  # nothing rendered again: nothing compressed
    check(text, units)
    assert text.compressed == 9

    units[names[71]] = lines(names[71], 1)  # one unit polled, in the second batch
    text.update((n, units[n] if n == names[71] else None) for n in names)
    check(text, units)
    assert text.compressed == 9 + 2  # its two changing columns of its batch

    text.update((n, units[n]) for n in names)  # all rendered again, the same lines
    check(text, units)
    assert text.compressed == 11


def test_units_added_removed_and_moved_keep_their_lines() -> None:
    names = [f"u{i:03d}" for i in range(BATCH + 5)]
    units = {n: lines(n, 0) for n in names}
    text = FleetText()
    text.update(units.items())
    # a unit added at the front: every unit moves, none is rendered again
    units = {"new": lines("new", 3), **units}
    text.update((n, units[n] if n == "new" else None) for n in units)
    check(text, units)
    # one removed from the middle, one polled, the order turned round
    del units[names[10]]
    units[names[20]] = lines(names[20], 4, columns=4)  # a family more
    order = list(units)[::-1]
    units = {n: units[n] for n in order}
    text.update((n, units[n] if n == names[20] else None) for n in order)
    check(text, units, columns=4)
    text.update([])  # every unit gone
    assert text.text(0) == b"" and list(text.blocks(0)) == []


def test_a_failed_update_keeps_the_texts_it_had() -> None:
    units = {f"u{i}": lines(f"u{i}", 0) for i in range(BATCH * 3)}
    text = FleetText()
    text.update(units.items())

    def failing() -> object:
        for i, name in enumerate(units):
            if i == BATCH * 2:
                raise RuntimeError("a render failed")
            yield name, lines(name, 9)

    try:
        text.update(failing())  # type: ignore[arg-type]
    except RuntimeError:
        pass
    else:
        raise AssertionError("the failure was swallowed")
    check(text, units)


def test_a_family_given_as_none_keeps_its_lines_in_place_and_when_the_unit_moves() -> None:
    names = [f"u{i:03d}" for i in range(BATCH + 5)]
    units = {n: lines(n, 0) for n in names}
    text = FleetText()
    text.update(units.items())
    polled = names[3]
    units[polled] = (units[polled][0], *lines(polled, 1)[1:])
    compressed = text.compressed
    text.update((n, (None, *units[n][1:]) if n == polled else None) for n in names)
    check(text, units)
    assert text.compressed == compressed + 2  # column 0 kept as it was
    units = {"new": lines("new", 0), **units}  # every unit moves
    units[polled] = (units[polled][0], *lines(polled, 2)[1:])
    text.update((n, (None, *units[n][1:]) if n == polled else units[n] if n == "new" else None)
                for n in units)  # fmt: skip
    check(text, units)
