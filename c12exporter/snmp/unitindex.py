"""c12UnitIndex: a unit's number in every table, kept with the unit for good.

Each unit name gets an index the first time the agent serves it: the next number never
given before. The mapping lives in a small JSON file in the exporter's state directory,
so a unit keeps its index across reloads and restarts, and when other units are removed.
Removed units keep their entry: a unit that comes back gets its old index again, and an
index is never given to another name.

File (``<state_dir>/snmp-unit-index.json``)::

    {"version": 1, "next": 4, "units": {"stage-left": 1, "stage-right": 2, "foh": 3}}
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

FILE_NAME = "snmp-unit-index.json"
VERSION = 1
MAX_INDEX = 2**32 - 1
"""c12UnitIndex is Unsigned32 (1..4294967295)."""


class UnitIndexError(Exception):
    """The state file cannot be written (the message names the path and the cause)."""


class UnitIndexes:
    """Unit name -> c12UnitIndex, persisted in ``path`` (``None``: kept in memory only).

    :raises UnitIndexError: ``path``'s directory cannot be created.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._indexes: dict[str, int] = {}
        self._next = 1
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise UnitIndexError(
                    f"cannot create the state directory {path.parent}: {error.strerror or error}"
                ) from None
            self._load(path)

    @classmethod
    def in_dir(cls, state_dir: Path) -> UnitIndexes:
        return cls(state_dir / FILE_NAME)

    def __getitem__(self, name: str) -> int:
        """The unit's index, given now if it has none yet."""
        index = self._indexes.get(name)
        if index is None:
            index = self.assign((name,))[name]
        return index

    def get(self, name: str) -> int | None:
        return self._indexes.get(name)

    @property
    def known(self) -> Mapping[str, int]:
        """Every name ever given an index, removed units included."""
        return dict(self._indexes)

    def assign(self, names: Iterable[str], strict: bool = False) -> dict[str, int]:
        """The index of each name; names without one get the next unused numbers, in
        order, and the file is written once. If it cannot be written, the numbers hold
        until the process ends, and the error is logged.

        :raises UnitIndexError: ``strict`` and the file cannot be written.
        """
        names = list(names)
        new = False
        for name in names:
            if name not in self._indexes:
                if self._next > MAX_INDEX:
                    raise UnitIndexError(f"{self.path}: every c12UnitIndex has been used")
                self._indexes[name] = self._next
                self._next += 1
                new = True
        if new:
            try:
                self._save()
            except UnitIndexError as error:
                if strict:
                    raise
                log.error(
                    "SNMP unit indexes: %s; new units keep theirs until the exporter stops", error
                )
        return {name: self._indexes[name] for name in names}

    # --- the file ---------------------------------------------------------------------------

    def _load(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as error:
            self._rebuild(path, f"cannot be read ({error.strerror or error})")
            return
        try:
            indexes, next_index = _parse(text)
        except ValueError as error:
            self._rebuild(path, str(error))
            return
        self._indexes = indexes
        self._next = next_index

    def _rebuild(self, path: Path, problem: str) -> None:
        aside = path.with_name(path.name + ".bad")
        try:
            os.replace(path, aside)
        except OSError:
            kept = "it is left in place and will be overwritten"
        else:
            kept = f"it was moved to {aside}"
        log.error(
            "SNMP unit index file %s %s; %s. Units get new c12UnitIndex values in "
            "configuration order, so managers that keep history by index may mix units "
            "up: if you have a good copy of the file, stop the exporter, put the copy "
            "back and start it again; otherwise have managers re-read c12UnitName.",
            path,
            problem,
            kept,
        )

    def _save(self) -> None:
        if self.path is None:
            return
        data = {"version": VERSION, "next": self._next, "units": self._indexes}
        directory = self.path.parent
        try:
            fd, temp = tempfile.mkstemp(prefix=f".{FILE_NAME}.", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(data, out, indent=1, ensure_ascii=False)
                    out.write("\n")
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as error:
            raise UnitIndexError(
                f"cannot write {self.path}: {error.strerror or error}; the directory must "
                "be writable by the exporter"
            ) from None


def _parse(text: str) -> tuple[dict[str, int], int]:
    """(name -> index, next index) from the file's text; ``ValueError`` if it is not one."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"is not valid JSON ({error})") from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ValueError(f"is not a version {VERSION} unit index file")
    units, next_index = data.get("units"), data.get("next")
    if not isinstance(units, dict) or not isinstance(next_index, int) or not _is_index(next_index):
        raise ValueError("lacks 'units' or 'next'")
    seen: set[int] = set()
    for name, index in units.items():
        if not _is_index(index) or index in seen or index >= next_index:
            raise ValueError(f"has an invalid or repeated index for {name!r}")
        seen.add(index)
    return dict(units), next_index


def _is_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_INDEX + 1
