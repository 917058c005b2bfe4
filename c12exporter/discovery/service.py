"""Discovery while serving: scan on an interval, name what is found, hand the fleet over.

Units are known by serial number. A serial bound to a unit that still answers at its
address is not taken by another address claiming it (a conflict, logged), a device
whose serial changes between connections is not added, and discovery adds no more
units than the addresses it scans. A unit keeps its name for life (kept in
``<state_dir>/discovered-units.json``), so a unit that moves to another address (DHCP,
link-local) keeps its name, its history and its SNMP index. A unit unseen for
``gone_after`` is reported gone (it stays in the fleet and shows down); unseen for
``forget_after`` it leaves the fleet, and comes back under its old name if it returns.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..catalogue import declared
from ..resolve import printable
from ..settings import DiscoveryConfig, UnitConfig
from ..telemetry import Telemetry
from .configfile import NAME_PREFIX
from .scan import (
    Finding,
    Outcome,
    ScanResolver,
    confirm_serials,
    endpoint,
    scan,
    serial_conflicts,
)
from .targets import parse_targets

log = logging.getLogger(__name__)

STATE_FILE = "discovered-units.json"


@dataclass
class Known:
    """A unit discovery has seen at least once."""

    name: str
    serial: str
    address: str
    model: str
    first_seen: float
    last_seen: float
    gone: bool = False


class Discovery:
    """Keeps the discovered part of the fleet; :meth:`units` is what to poll."""

    def __init__(
        self,
        config: DiscoveryConfig,
        resolver: ScanResolver,
        state_dir: Path,
        telemetry: Telemetry,
    ) -> None:
        self.config = config
        self.resolver = resolver
        self.path = state_dir / STATE_FILE
        self.known: dict[str, Known] = self._load()
        self._scans = telemetry.counter_of(declared("discovery_scans"))
        self._units = telemetry.gauge_of(declared("discovery_units"))
        self._last = telemetry.gauge_of(declared("discovery_last_scan"))
        self._duration = telemetry.gauge_of(declared("discovery_last_scan_duration"))

    # --- scanning ---------------------------------------------------------------------------

    async def scan_once(self, reserved: Iterable[UnitConfig] = ()) -> list[Finding]:
        """One scan; learns new units, moves and absences.

        :param reserved: the configured units: a unit found at one of their addresses or
            with one of their serials is theirs, and a new name never takes theirs.
        """
        config = self.config
        addresses = [endpoint(h, config.port) for h in parse_targets(config.networks)]
        started = time.monotonic()
        reserved = list(reserved)
        findings = await scan(
            self.resolver, addresses, concurrency=config.concurrency, rate=config.rate,
            timeout_s=config.timeout_s,
        )  # fmt: skip
        findings = await self._checked(findings, reserved)
        self._learn(findings, reserved, time.time(), cap=len(addresses))
        self._scans.inc()
        self._last.set(time.time())
        self._duration.set(time.monotonic() - started)
        return findings

    async def _checked(self, findings: list[Finding], reserved: list[UnitConfig]) -> list[Finding]:
        """``findings`` without the devices that would take a unit's name or grow the
        fleet without end: a serial claimed at two addresses (the unit keeps its own
        address while it answers there) and a serial that changes between connections;
        each is logged as what it is."""
        bound = {u.serial: u.address for u in reserved if u.serial}
        bound.update({k.serial: k.address for k in self.known.values() if not k.gone})
        findings = serial_conflicts(findings, bound.get)
        known = set(bound) | set(self.known)
        findings = await confirm_serials(
            self.resolver, findings, self.config.timeout_s, self.config.concurrency,
            known.__contains__,
        )  # fmt: skip
        for finding in findings:
            if finding.outcome in (Outcome.CONFLICT, Outcome.UNSTABLE):
                log.warning("discovery: %s: %s: %s", finding.address, finding.outcome.value,
                            printable(finding.reason))  # fmt: skip
        return findings

    def _learn(
        self, findings: list[Finding], reserved: list[UnitConfig], now: float, cap: int
    ) -> None:
        """Learn new units, moves and absences; at most ``cap`` units (the addresses
        scanned) are in the fleet and not gone, so no device can grow it without end."""
        taken_names = {u.name for u in reserved} | {k.name for k in self.known.values()}
        reserved_serials = {u.serial for u in reserved if u.serial}
        reserved_addresses = {u.address for u in reserved}
        changed = False
        refused = 0
        for finding in findings:
            identity = finding.identity
            if not finding.is_unit or identity is None or not identity.serial:
                continue
            if identity.serial in reserved_serials or finding.address in reserved_addresses:
                continue
            known = self.known.get(identity.serial)
            if known is None:
                live = sum(not k.gone and not self._forgotten(k, now) for k in self.known.values())
                if live >= cap:
                    refused += 1
                    continue
                name = _next_name(taken_names)
                taken_names.add(name)
                known = Known(name, identity.serial, finding.address, identity.model, now, now)
                self.known[identity.serial] = known
                log.info("discovered %s: %s serial %s at %s", name, printable(identity.model),
                         printable(identity.serial), finding.address)  # fmt: skip
                changed = True
            elif known.address != finding.address:
                log.info("%s (serial %s) moved from %s to %s", known.name, known.serial,
                         known.address, finding.address)  # fmt: skip
                known.address = finding.address
                changed = True
            if known.gone:
                log.info("%s (serial %s) is back at %s", known.name, known.serial, known.address)
                known.gone = False
                changed = True
            known.last_seen = now
        if refused:
            log.warning(
                "discovery: %d new serials not added: %d units are in the fleet already, as "
                "many as the addresses scanned; a device that changes its serial would add one "
                "per scan (see %s)", refused, cap, declared("discovery_units").metric_name,
            )  # fmt: skip
        for known in self.known.values():
            unseen = now - known.last_seen
            if not known.gone and unseen >= self.config.gone_after_s:
                known.gone = True
                log.warning("%s (serial %s, last at %s) is gone: unseen for %.0f s",
                            known.name, known.serial, known.address, unseen)  # fmt: skip
                changed = True
        if changed:
            self._save()
        self._count(now)

    def _count(self, now: float) -> None:
        forgotten = [k for k in self.known.values() if self._forgotten(k, now)]
        gone = [k for k in self.known.values() if k.gone and k not in forgotten]
        self._units.labels("forgotten").set(len(forgotten))
        self._units.labels("gone").set(len(gone))
        self._units.labels("seen").set(len(self.known) - len(gone) - len(forgotten))

    def _forgotten(self, known: Known, now: float) -> bool:
        return now - known.last_seen >= self.config.forget_after_s

    def units(self, now: float | None = None) -> list[UnitConfig]:
        """The discovered units to poll (not forgotten), in the order they were found."""
        now = time.time() if now is None else now
        return [
            UnitConfig(name=k.name, address=k.address, serial=k.serial)
            for k in sorted(self.known.values(), key=lambda k: (k.first_seen, k.name))
            if not self._forgotten(k, now)
        ]

    async def run(
        self,
        reserved: Callable[[], Iterable[UnitConfig]],
        publish: Callable[[], Awaitable[None]],
    ) -> None:
        """Scan every interval; after each scan call ``publish`` (the exporter reconciles)."""
        while True:
            try:
                await self.scan_once(reserved())
                await publish()
            except asyncio.CancelledError:
                raise
            except Exception:  # a scan that fails must not end discovery
                log.exception("discovery scan failed; trying again in %.0f s",
                              self.config.interval_s)  # fmt: skip
            await asyncio.sleep(self.config.interval_s)

    # --- state file -------------------------------------------------------------------------

    def _load(self) -> dict[str, Known]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {k["serial"]: Known(**k) for k in data["units"]}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.error("%s: cannot read the discovered units (%s); starting afresh, names "
                      "may change: delete or fix the file", self.path, error)  # fmt: skip
            return {}

    def _save(self) -> None:
        data = {"version": 1, "units": [asdict(k) for k in self.known.values()]}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as error:
            log.error("%s: cannot keep the discovered units' names: %s", self.path, error)


def _next_name(taken: set[str]) -> str:
    number = 1
    while f"{NAME_PREFIX}{number:02d}" in taken:
        number += 1
    return f"{NAME_PREFIX}{number:02d}"
