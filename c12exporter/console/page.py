"""The console's one HTML page, rendered on the server: the fleet table (pane A) and the
selected unit (panes B to D), complete without JavaScript; ``console.js`` keeps it live.

Every value is in an element whose ``data-k`` names its key in
:mod:`c12exporter.console.view`, so the page and the live updates format it one way.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping

from .. import __version__
from ..measurements import BY_NAME, PHASES
from ..model import AUX_CHANNEL
from ..reading import Reading
from ..routes import Route
from ..store import UnitState
from . import view
from .view import Cells


def e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _k(cells: Cells, key: str, tag: str = "span", extra: str = "") -> str:
    """An element showing cell ``key`` (text, and its state if it has one)."""
    state = cells.s.get(key)
    state_attr = f' data-s="{e(key)}" data-state="{e(state)}"' if state is not None else ""
    return f'<{tag} data-k="{e(key)}"{state_attr}{extra}>{e(cells.t.get(key, ""))}</{tag}>'


def _bar(cells: Cells, key: str, label: str) -> str:
    width = cells.w.get(key, 0.0)
    state = cells.s.get(key, "ok")
    return (
        f'<span class="bar" role="presentation"><span data-w="{e(key)}" data-s="{e(key)}" '
        f'data-state="{e(state)}" style="width:{width}%"></span></span>'
        f'<span class="sr-only">{e(label)}</span>'
    )


FLEET_COLUMNS: tuple[tuple[str, str], ...] = (
    ("unit", "Unit"),
    ("state", "State"),
    ("stored", "Stored name"),
    ("model", "Model"),
    *((p, p) for p in PHASES),
    ("N", "N"),
    ("estop", "E-stop"),
    ("switch", "Switch"),
    ("neutral", "Neutral"),
    ("warn", "⚠"),
    ("power", "P"),
    ("balance", "Balance"),
)


def fleet_row(unit: UnitState, reading: Reading | None, selected: str) -> str:
    cells = view.row_cells(unit, reading)
    name = unit.config.name
    current = ' aria-current="page"' if name == selected else ""
    out = [
        f'<tr data-unit="{e(name)}" data-s="state" data-state="{e(cells.s["state"])}">',
        f'<th scope="row"><a href="?unit={e(name)}"{current}>{e(name)}</a></th>',
        f'<td class="state">{_k(cells, "state")}</td>',
        f"<td>{_k(cells, 'stored')}</td>",
        f"<td>{_k(cells, 'model')}</td>",
    ]
    for phase in (*PHASES, "N"):
        out.append(
            f'<td class="num" title="c12_current_amperes{{phase=&quot;{phase}&quot;}} '
            f'of 63 A input">{_k(cells, phase)}{_bar(cells, phase, "of 63 A")}</td>'
        )
    for key in ("estop", "switch", "neutral"):
        out.append(f"<td>{_k(cells, key)}</td>")
    warn = _k(cells, "warn", extra=' aria-label="supervision warning"')
    out.append(f'<td class="warn">{warn}</td>')
    out.append(f'<td class="num">{_k(cells, "power")}</td>')
    out.append(f'<td class="num">{_k(cells, "balance")}</td>')
    out.append("</tr>")
    return "".join(out)


def fleet_table(rows: Iterable[str], totals: Cells) -> str:
    head = "".join(
        f'<th scope="col"><button type="button" data-sort="{i}">{e(label)}</button></th>'
        for i, (_key, label) in enumerate(FLEET_COLUMNS)
    )
    foot = (
        '<tr><th scope="row">Fleet</th>'
        f'<td colspan="3">{_k(totals, "f.count")}</td>'
        + "".join(f'<td class="num">{_k(totals, f"f.{p}")}</td>' for p in (*PHASES, "N"))
        + f'<td colspan="4"></td><td class="num">{_k(totals, "f.power")}</td><td></td></tr>'
    )
    return (
        '<div class="scroll" tabindex="0" role="region" aria-label="Fleet table">'
        '<table id="fleet-table"><caption class="sr-only">Every unit, live; '
        "the buttons in the header sort</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
        f"<tfoot>{foot}</tfoot></table></div>"
    )


def _pen(label: str, action: str, unit: str, channel: int | None, current: str) -> str:
    channel_attr = "" if channel is None else f' data-channel="{channel}"'
    return (
        f'<button type="button" class="icon" data-edit="{e(action)}" data-unit="{e(unit)}"'
        f'{channel_attr} data-current="{e(current)}" aria-label="{e(label)}" '
        f'title="{e(label)}">{"✎" if action != "band" else "👁"}</button>'
    )


def unit_panes(
    unit: UnitState,
    reading: Reading | None,
    editable: bool,
    trip_s: Mapping[int, float] | None = None,
) -> str:
    cells = view.detail_cells(unit, reading, trip_s)
    name = unit.config.name
    fixed = frozenset(unit.config.supervision)
    up = reading is not None
    pen = (
        _pen(f"Rename unit {name}", "unit_name", name, None, reading.stored_name)
        if editable and reading is not None
        else ""
    )
    b = (
        f'<section class="pane" id="pane-b" aria-labelledby="unit-h">'
        f'<h2 id="unit-h">{e(name)}</h2>'
        f'<p class="stored">Name in the unit: {_k(cells, "d.stored")} {pen}</p>'
        '<dl class="identity">'
        f"<dt>Address</dt><dd>{_k(cells, 'd.address')}</dd>"
        f"<dt>Model</dt><dd>{_k(cells, 'd.model')}</dd>"
        f"<dt>Layout</dt><dd>{_k(cells, 'd.layout')}</dd>"
        f"<dt>Aux socket</dt><dd>{_k(cells, 'd.aux')}</dd>"
        f"<dt>Serial</dt><dd>{_k(cells, 'd.serial')}</dd>"
        f"<dt>Firmware</dt><dd>{_k(cells, 'd.firmware')}</dd>"
        "</dl></section>"
    )
    states = "".join(
        f'<dt>{e(m.description)}</dt><dd title="{e(view.source(m))}">{_k(cells, f"d.{m.name}")}'
        "</dd>"
        for m in view.STATE_MEASUREMENTS
    )
    c = (
        '<section class="pane" id="pane-c" aria-labelledby="status-h">'
        '<h2 id="status-h">Status</h2>'
        f'<p class="status" role="status">{_k(cells, "d.status", "strong")}</p>'
        f"<dl>{states}<dt>Phase balance (NEMA: max deviation from the mean, over the mean)"
        f"</dt><dd>{_k(cells, 'd.balance')}</dd>"
        f"<dt>To balance the phases</dt><dd>{_k(cells, 'd.advice')}</dd></dl></section>"
    )
    if not up:
        return (
            f'<div id="unit" data-detail="{e(name)}" data-up="down">{b}{c}'
            '<section class="pane" id="pane-d"><h2>Channels</h2><p>The unit cannot be read; '
            "nothing is shown until it can.</p></section></div>"
        )
    assert reading is not None
    return (
        f'<div id="unit" data-detail="{e(name)}" data-up="up">{b}{c}'
        f"{_meter(cells)}{_channels(cells, reading, name, editable, fixed)}</div>"
    )


def _meter(cells: Cells) -> str:
    lines = []
    for row in view.LINE_ROWS:
        m = row.phase
        values = "".join(
            f'<td class="num" title="{e(view.source(m, p))}">{_k(cells, f"m.{m.name}.{p}")}</td>'
            for p in PHASES
        )
        if row.neutral is not None:
            n = row.neutral
            values += (
                f'<td class="num" title="{e(view.source(n))}">{_k(cells, f"m.{m.name}.N")}</td>'
            )
        else:
            values += "<td></td>"
        where = view.source(m) + (f" / {view.source(row.neutral)}" if row.neutral else "")
        lines.append(
            f'<tr><th scope="row">{e(m.description)}</th>{values}'
            f'<td class="src">{e(where)}</td></tr>'
        )
    units = "".join(
        f'<tr><th scope="row">{e(m.description)}</th>'
        f'<td class="num" title="{e(view.source(m))}">{_k(cells, f"m.{m.name}")}</td>'
        f'<td class="src">{e(view.source(m))}</td></tr>'
        for m in view.UNIT_ROWS
    )
    heads = "".join(f'<th scope="col">{p}</th>' for p in (*PHASES, "N"))
    return (
        '<section class="pane" id="meter" aria-labelledby="meter-h"><h2 id="meter-h">Meter</h2>'
        '<div class="scroll" tabindex="0" role="region" aria-label="Meter per line">'
        f'<table class="meter"><thead><tr><th scope="col">Per line</th>{heads}'
        '<th scope="col">Prometheus / SNMP</th></tr></thead>'
        f"<tbody>{''.join(lines)}</tbody></table></div>"
        '<div class="scroll" tabindex="0" role="region" aria-label="Meter for the unit">'
        '<table class="meter"><thead><tr><th scope="col">Unit</th><th scope="col">Value</th>'
        f'<th scope="col">Prometheus / SNMP</th></tr></thead><tbody>{units}</tbody></table>'
        "</div></section>"
    )


def _band_edit(eye: str, editable: bool, fixed: bool) -> str:
    if fixed:
        return '<span class="hint">(set in the config file)</span>'
    return eye if editable else ""


def _channels(
    cells: Cells, reading: Reading, unit: str, editable: bool, fixed: frozenset[int] = frozenset()
) -> str:
    """:param fixed: channels whose band the config file sets (not editable here)."""
    current = BY_NAME["channel_current"]
    load = BY_NAME["channel_load"]
    breaker = BY_NAME["channel_breaker"]
    channels = {c.number: c for c in reading.channels}
    groups = []
    for connector in reading.model.layout.connectors:
        rows = []
        for number in connector.channels:
            c = channels[number]
            k = f"c.{number}."
            rating = view.bar_rating_a(c, reading)
            aux = (
                f' <span class="aux">+ {e(reading.model.aux_socket.name)} socket '
                f"({rating:g} A)</span>"
                if number == AUX_CHANNEL
                else ""
            )
            rename = _pen(f"Rename channel {number}", "channel_name", unit, number, c.name)
            band_value = (
                ""
                if not c.supervision.enabled
                else f"{'' if c.supervision.min_a is None else f'{c.supervision.min_a:g}'}"
                f"|{'' if c.supervision.max_a is None else f'{c.supervision.max_a:g}'}"
            )
            eye = _pen(f"Supervision of channel {number}", "band", unit, number, band_value)
            rows.append(
                f'<tr data-channel="{number}"><th scope="row">{number}</th>'
                f"<td>{_k(cells, k + 'name')}{aux} {rename if editable else ''}</td>"
                f'<td class="num" title="{e(view.source(current, str(number)))}">'
                f"{_k(cells, k + 'current')}"
                f"{_bar(cells, k + 'current', f'of {rating:g} A')}</td>"
                f'<td title="{e(view.source(load, str(number)))}">'
                f'<span class="led" data-s="{k}load" data-state="{e(cells.s[k + "load"])}">'
                f"</span>{_k(cells, k + 'load')}</td>"
                f'<td title="{e(view.source(breaker, str(number)))}">{_k(cells, k + "breaker")}'
                "</td>"
                f'<td title="c12_channel_supervision_min_amperes / _max_amperes · SNMP '
                f'c12ChannelSupervisionMin / Max">{_k(cells, k + "band")} '
                f"{_band_edit(eye, editable, number in fixed)}</td>"
                f'<td title="c12_channel_supervision_position · SNMP c12ChannelSupervisionState">'
                f"{_k(cells, k + 'sup')}</td>"
                f"<td>{e(c.phase)}</td>"
                f'<td class="trip">{_k(cells, k + "trip")}</td></tr>'
            )
        groups.append(
            f'<section class="connector" aria-label="Connector {e(connector.label)}">'
            f"<h3>Connector {e(connector.label)} <small>{e(connector.type)}</small></h3>"
            '<div class="scroll" tabindex="0" role="region" '
            f'aria-label="Channels of connector {e(connector.label)}">'
            '<table class="channels"><thead><tr><th scope="col">Ch</th>'
            '<th scope="col">Name</th><th scope="col">Current</th><th scope="col">Load</th>'
            '<th scope="col">Breaker</th><th scope="col">Band</th>'
            '<th scope="col">Supervision</th><th scope="col">Phase</th>'
            '<th scope="col">Breaker curve</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div></section>"
        )
    return (
        '<section class="pane" id="pane-d" aria-labelledby="channels-h">'
        f'<h2 id="channels-h">Channels</h2>{"".join(groups)}'
        f'<p class="note">Breaker curve: expected time to trip if the present current '
        f"stays, from the {e(reading.model.breaker.name)} curve and the load so far "
        "(the exporter's trip forecast).</p></section>"
    )


def page(
    *,
    title: str,
    rows: Iterable[str],
    totals: Cells,
    unit_html: str,
    selected: str,
    links: Iterable[Route],
    mode: str,
    editable: bool,
    token: str,
    jobs_html: str = "",
) -> str:
    nav = "".join(
        f'<li><a href="{e(r.path.lstrip("/") or ".")}">{e(r.title or r.path)}</a></li>'
        for r in links
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title>
<link rel="stylesheet" href="console/console.css">
<script src="console/console.js" defer></script>
</head>
<body data-selected="{e(selected)}" data-editable="{int(editable)}" data-token="{e(token)}">
<a class="skip" href="#unit">Skip to the selected unit</a>
<header>
<h1>{e(title)}</h1>
<nav aria-label="Exporter"><ul>{nav}<li><a href="probe?target={e(selected)}">/probe</a></li>
<li><a href="-/healthy">/-/healthy</a></li></ul></nav>
<button type="button" id="theme" aria-pressed="false">Dark theme</button>
<span id="live" role="status" data-state="connecting">connecting…</span>
</header>
<p class="mode" id="mode">{e(mode)}</p>
<main>
<section class="pane" id="fleet" aria-labelledby="fleet-h">
<h2 id="fleet-h">Fleet</h2>
<div class="tools">
<label>Filter <input id="filter" type="search" placeholder="name, model, state"></label>
<label><input id="problems" type="checkbox"> Problems only</label>
</div>
{fleet_table(rows, totals)}
</section>
{unit_html}
{jobs_html}
</main>
<div id="msg" role="alert"></div>
<dialog id="edit" aria-labelledby="edit-h">
<form method="dialog" id="edit-form" novalidate>
<h2 id="edit-h">Edit</h2>
<div id="edit-name"><label>Name <input id="edit-name-input" name="name" autocomplete="off"></label>
<p class="hint">At most 16 bytes of UTF-8 (16 plain letters; accented letters take 2).</p></div>
<div id="edit-band"><label>Minimum (A) <input id="edit-min" name="min" inputmode="decimal"></label>
<label>Maximum (A) <input id="edit-max" name="max" inputmode="decimal"></label>
<p class="hint">Leave both empty to switch supervision off. Steps of 0.01 A, 0 ≤ minimum &lt;
maximum ≤ the channel's rating.</p></div>
<p id="edit-error" role="alert"></p>
<div class="buttons"><button type="submit" id="edit-save" value="save">Save</button>
<button type="button" id="edit-cancel">Cancel</button></div>
</form>
</dialog>
<footer>c12exporter {e(__version__)} · values follow every poll · hover or focus a value for
its Prometheus metric and SNMP object</footer>
</body>
</html>
"""
