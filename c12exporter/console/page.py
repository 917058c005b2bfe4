"""The console's HTML, rendered on the server: the alarm banner on every view, the fleet
(a table that turns into cards on a phone, or tiles), the unit as on its front panel,
and the integrations page. Complete without JavaScript; ``console.js`` keeps it live.

Every live value is in an element whose ``data-k`` (text), ``data-w`` (bar width),
``data-s`` (state) or ``data-a`` (reading time, shown as an age) names its key in
:mod:`c12exporter.console.view`, so the page and the live updates format it one way.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from .. import __version__
from ..measurements import MEASUREMENTS, PHASES, Measurement
from ..problems import Problem
from ..reading import Reading
from ..routes import Route
from ..store import UnitState
from . import view
from .view import LINES, Cells


def e(text: object) -> str:
    return html.escape(str(text), quote=True)


# --- small pieces -----------------------------------------------------------------------------

ICONS = """<svg class="sprite" aria-hidden="true" focusable="false">
<symbol id="i-pen" viewBox="0 0 24 24"><path d="M4 20h4L19 9l-4-4L4 16z M14 6l4 4"
 fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round"/></symbol>
<symbol id="i-sound" viewBox="0 0 24 24"><path d="M4 9h4l5-4v14l-5-4H4z" fill="currentColor"/>
<path d="M16 8.5a5 5 0 0 1 0 7M18.5 6a8.5 8.5 0 0 1 0 12" fill="none" stroke="currentColor"
 stroke-width="2" stroke-linecap="round"/></symbol>
<symbol id="i-eye" viewBox="0 0 24 24"><path d="M2 12s4-7 10-7 10 7 10 7-4 7-10 7S2 12 2 12z"
 fill="none" stroke="currentColor" stroke-width="2"/><circle cx="12" cy="12" r="3"
 fill="currentColor"/></symbol>
</svg>"""
"""Inline SVG symbols of the edit buttons (no icon font, no emoji)."""


def _k(cells: Cells, key: str, tag: str = "span", extra: str = "") -> str:
    """An element showing cell ``key`` (text, and its state if it has one)."""
    state = cells.s.get(key)
    state_attr = f' data-s="{e(key)}" data-state="{e(state)}"' if state is not None else ""
    return f'<{tag} data-k="{e(key)}"{state_attr}{extra}>{e(cells.t.get(key, ""))}</{tag}>'


def _age(cells: Cells, key: str) -> str:
    """A reading's age; the browser counts it up between updates."""
    at = cells.a.get(key)
    if at is None:
        return f'<span data-a="{e(key)}">{e(cells.t.get(key, ""))}</span>'
    return f'<span data-a="{e(key)}" data-at="{at:.3f}">{e(view.clock(at))}</span>'


def _bar(cells: Cells, key: str, label: str, band: str = "") -> str:
    """A bar of ``key``'s width; ``band``: the channel whose supervision band it marks."""
    width = cells.w.get(key, 0.0)
    state = cells.s.get(key, "ok")
    marks = "".join(
        f'<span class="mark {end}" data-w="{e(band + end)}" '
        f'data-pct="{cells.w.get(band + end, 0.0)}"></span>'
        for end in (("lo", "hi") if band else ())
    )
    return (
        f'<span class="bar" title="{e(label)}"><span data-w="{e(key)}" data-s="{e(key)}" '
        f'data-state="{e(state)}" data-pct="{width}"></span>{marks}</span>'
    )


def severity(cells: Cells, key: str, word_key: str | None = None) -> str:
    """The severity badge: shape (a CSS icon by state), word and colour."""
    state = cells.s.get(key, "ok")
    word = cells.t.get(word_key, view.WORD[state]) if word_key else view.WORD[state]
    inner = f'<b data-k="{e(word_key)}">{e(word)}</b>' if word_key else f"<b>{e(word)}</b>"
    return (
        f'<span class="sev" data-s="{e(key)}" data-state="{e(state)}">'
        f'<i class="ico" aria-hidden="true"></i>{inner}</span>'
    )


def _pen(label: str, action: str, unit: str, channel: int | None, current: str, **data: str) -> str:
    channel_attr = "" if channel is None else f' data-channel="{channel}"'
    extra = "".join(f' data-{k}="{e(v)}"' for k, v in data.items())
    icon = "i-eye" if action == "band" else "i-pen"
    return (
        f'<button type="button" class="icon" data-edit="{e(action)}" data-unit="{e(unit)}"'
        f'{channel_attr} data-current="{e(current)}"{extra} aria-label="{e(label)}" '
        f'title="{e(label)}"><svg aria-hidden="true" focusable="false"><use href="#{icon}"/>'
        "</svg></button>"
    )


def unit_link(name: str, params: Mapping[str, str] | None = None) -> str:
    query = {**(params or {}), "unit": name}
    return "?" + urlencode({k: v for k, v in query.items() if v})


# --- problems: the banner and the unit's own list ----------------------------------------------


def problem_item(p: Problem, ackable: bool, in_unit: bool = False) -> str:
    """One problem as a list item: shape and word, unit, words, since when, acknowledge."""
    state = view.STATE[p.severity]
    acked = (
        f'<span class="acked">acknowledged by {e(p.acked_by)}</span>'
        if p.acked_by is not None
        else ""
    )
    ack = (
        f'<button type="button" class="ack" data-ack-unit="{e(p.unit)}" data-ack-key="{e(p.key)}"'
        f' aria-label="Acknowledge {e(p.unit)}: {e(p.text)}">Acknowledge</button>'
        if ackable and p.acked_by is None
        else ""
    )
    unit = "" if in_unit else f'<a class="pu" href="{e(unit_link(p.unit))}">{e(p.unit)}</a> '
    advice = f'<p class="advice">{e(p.advice)}</p>' if in_unit and p.advice else ""
    detail = (
        f'<details class="raw"><summary>Details</summary><code>{e(p.detail)}</code></details>'
        if in_unit and p.detail
        else ""
    )
    events = urlencode({"events": "1", "of": p.unit, "since": f"{p.since - EVENTS_BEFORE_S:.0f}"})
    log = (
        f'<a class="log" href="?{e(events)}">events<span class="sr-only"> of {e(p.unit)}</span></a>'
    )

    return (
        f'<li data-id="{e(view.problem_id(p))}" data-state="{state}" '
        f'data-acked="{int(p.acked_by is not None)}">'
        f'<span class="sev" data-state="{state}"><i class="ico" aria-hidden="true"></i>'
        f'<b>{view.WORD[state]}</b></span> {unit}<span class="pt">{e(p.text)}</span> '
        f'<span class="since">since {e(view.clock(p.since))} '
        f'(<span data-at="{p.since:.3f}" data-a="since">{e(view.clock(p.since))}</span>)</span>'
        f" {acked}{ack} {log}{advice}{detail}</li>"
    )


EVENTS_BEFORE_S = 600
"""An alarm's events link starts this long before the problem began."""
EVENT_WINDOWS = (("15m", "15 min"), ("1h", "1 hour"), ("6h", "6 hours"), ("24h", "24 hours"),
                 ("7d", "7 days"))  # fmt: skip


def events_section(of: str, since: str, units: Sequence[str]) -> str:
    """The event timeline (the ``/console/timeline`` route's HTML), filtered by unit and
    time; the page's script loads it, and without script the link opens it."""
    query = urlencode(
        {k: v for k, v in {"format": "html", "unit": of, "since": since}.items() if v}
    )
    known = any(since == value for value, _ in EVENT_WINDOWS)
    windows = "".join(
        f'<option value="{value}"{" selected" if since == value else ""}>{e(words)}</option>'
        for value, words in EVENT_WINDOWS
    )
    if since and not known:
        windows = f'<option value="{e(since)}" selected>since the problem</option>' + windows
    options = "".join(f'<option value="{e(u)}">' for u in units)
    return (
        '<section id="events" aria-labelledby="events-h"><div class="unit-head">'
        '<a class="back" href="./"><span aria-hidden="true">←</span> Fleet</a>'
        '<h2 id="events-h">Events</h2></div>'
        '<form id="events-tools" class="tools" method="get"><input type="hidden" name="events" '
        f'value="1"><label>Unit <input name="of" value="{e(of)}" list="event-units" '
        f'placeholder="every unit"></label><datalist id="event-units">{options}</datalist>'
        f'<label>From <select name="since"><option value="">the start</option>{windows}'
        '</select></label><button type="submit">Show</button></form>'
        f'<div id="events-body" data-src="console/timeline?{e(query)}">'
        f'<p><a href="console/timeline?{e(query)}">Open the events</a></p></div></section>'
    )


BANNER_MAX = 40
"""Problems listed in the banner; the counts cover all of them."""


def banner(problems: Sequence[Problem], totals: Cells, ackable: bool) -> str:
    counts = "".join(
        f'<a class="count" href="?problems=1" data-state="{state}" '
        f'data-zero="{int(totals.t.get(f"f.{state}", "0") == "0")}">'
        f'<i class="ico" aria-hidden="true"></i><b data-k="f.{state}">'
        f"{e(totals.t.get(f'f.{state}', '0'))}</b> {view.WORD[state].lower()}</a>"
        for state in ("alarm", "down", "warn")
    )
    items = "".join(problem_item(p, ackable) for p in problems[:BANNER_MAX])
    more = len(problems) - BANNER_MAX
    return (
        '<section id="banner" aria-labelledby="banner-h" '
        f'data-state="{view.worst(problems)}">'
        '<div class="counts"><h2 id="banner-h">Problems</h2>'
        f'{counts}<span class="allclear">All clear</span>'
        '<span id="live" data-state="connecting">connecting…</span>'
        '<button type="button" id="sound" class="icon" aria-pressed="false" '
        'aria-label="Sound for new alarms" title="Sound for new alarms">'
        '<svg aria-hidden="true" focusable="false"><use href="#i-sound"/></svg></button></div>'
        '<div id="lost" role="alert" hidden><strong>Connection lost at '
        '<span id="lost-at"></span>.</strong> Values are as they were then; reconnecting by '
        "itself.</div>"
        f'<ol id="problems" aria-label="Active problems, worst first">{items}</ol>'
        f'<p id="more" class="hint"{"" if more > 0 else " hidden"}>'
        f'and <span id="more-n">{max(more, 0)}</span> more: '
        '<a href="?problems=1">the fleet, problems only</a></p>'
        "</section>"
    )


def unit_problems(problems: Sequence[Problem], ackable: bool) -> str:
    if not problems:
        return '<p class="fine">Nothing wrong.</p>'
    return (
        '<ul class="problems">'
        + "".join(problem_item(p, ackable, in_unit=True) for p in problems)
        + "</ul>"
    )


# --- the fleet --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FleetParams:
    """What the fleet view shows, from the page's query: the same on the page, in the
    fragment the stream sends and in the links."""

    sort: str = "severity"
    q: str = ""
    group: str = ""
    tiles: bool = False
    problems: bool = False
    page: int = 1

    SORTS = ("severity", "name", "load")

    @classmethod
    def of(cls, query: Mapping[str, str]) -> FleetParams:
        sort = query.get("sort", "severity")
        try:
            page = max(1, int(query.get("page", "1")))
        except ValueError:
            page = 1
        return cls(
            sort if sort in cls.SORTS else "severity",
            query.get("q", "").strip()[:64],
            query.get("group", "").strip()[:32],
            query.get("view") == "tiles",
            query.get("problems") == "1",
            page,
        )

    def query(self, **changes: object) -> dict[str, str]:
        values = {
            "sort": self.sort, "q": self.q, "group": self.group,
            "view": "tiles" if self.tiles else "", "problems": "1" if self.problems else "",
            "page": str(self.page),
        }  # fmt: skip
        for key, value in changes.items():
            values[key] = str(value)
        defaults = {"sort": "severity", "page": "1", "view": "table"}
        return {k: v for k, v in values.items() if v and defaults.get(k) != v}

    def link(self, **changes: object) -> str:
        return "?" + urlencode(self.query(**changes))


PAGE_ROWS = 40
"""Rows of the fleet table per page: the page's size follows the screen, not the fleet."""
PAGE_TILES = 600


@dataclass(frozen=True)
class FleetPage:
    """The units on the page, in order, with group headings, and how many there are."""

    units: tuple[UnitState, ...]
    groups: Mapping[str, str]  # unit -> its group's heading, on the first unit of a group
    total: int
    pages: int
    params: FleetParams


def order(
    units: Iterable[UnitState],
    problems: Mapping[str, Sequence[Problem]],
    params: FleetParams,
    load: Mapping[str, float],
) -> FleetPage:
    """The fleet as the view orders it: by default as the banner orders problems (worst
    first, unacknowledged before acknowledged, newest first, then the name), filtered,
    grouped by a label, cut to one page. ``problems``: each unit's in
    :func:`view.panel_order`."""
    words = params.q.lower()
    chosen = []
    for unit in units:
        name = unit.config.name
        mine = problems.get(name, ())
        if params.problems and not mine:
            continue
        if words:
            haystack = " ".join(
                [name, *(f"{k}={v}" for k, v in unit.config.labels.items()),
                 *(p.text for p in mine)]
            ).lower()  # fmt: skip
            if words not in haystack:
                continue
        chosen.append(unit)

    def key(unit: UnitState) -> tuple[object, ...]:
        name = unit.config.name
        mine = problems.get(name, ())
        group = unit.config.labels.get(params.group, "") if params.group else ""
        if params.sort == "name":
            return (group, name)
        if params.sort == "load":
            return (group, -load.get(name, 0.0), name)
        if not mine:
            return (group, 0, False, math.inf, name)
        first = mine[0]  # in the panel's order (view.panel_order)
        return (group, -first.severity, first.acked_by is not None, -first.since, name)

    chosen.sort(key=key)
    size = PAGE_TILES if params.tiles else PAGE_ROWS
    pages = max(1, math.ceil(len(chosen) / size))
    page = min(params.page, pages)
    shown = tuple(chosen[(page - 1) * size : page * size])
    groups: dict[str, str] = {}
    if params.group:
        previous = None
        for unit in shown:
            value = unit.config.labels.get(params.group, "")
            if value != previous:
                groups[unit.config.name] = f"{params.group}: {value or '(none)'}"
                previous = value
    return FleetPage(
        shown, groups, len(chosen), pages, FleetParams(**{**params.__dict__, "page": page})
    )


COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("c-unit", "Unit", "name"),
    ("c-status", "Status", "severity"),
    *((f"c-line c-{p}", p, None) for p in PHASES),
    ("c-line c-N", "N", None),
    ("c-power", "Power", "load"),
    ("c-age", "Read", None),
)


def fleet_row(unit: UnitState, cells: Cells, selected: str, params: FleetParams) -> str:
    name = unit.config.name
    current = ' aria-current="page"' if name == selected else ""
    state = cells.s["status"]
    lines = "".join(
        f'<td class="c-line c-{line}" data-label="{line}">{_k(cells, line)}'
        f"{_bar(cells, line, f'{line} against the input rating')}</td>"
        for line in LINES
    )
    return (
        f'<tr data-unit="{e(name)}" data-s="status" data-state="{e(state)}">'
        f'<th scope="row" class="c-unit"><a href="{e(unit_link(name, params.query()))}"'
        f"{current}>{e(name)}</a> {_k(cells, 'stored', 'small')}</th>"
        f'<td class="c-status">{severity(cells, "status", "sev")} {_k(cells, "status")}</td>'
        f"{lines}"
        f'<td class="c-power" data-label="Power">{_k(cells, "power")}</td>'
        f'<td class="c-age" data-label="Read">{_age(cells, "age")}</td></tr>'
    )


def fleet_body(fleet: FleetPage, rows: Mapping[str, Cells], selected: str) -> str:
    """The fleet's live part: the table (cards on a narrow screen) or the tiles, and the
    pager. The stream sends it again when the order or a state changes."""
    params = fleet.params
    if not fleet.units:
        listing = '<p class="fine">No unit matches.</p>'
    elif params.tiles:
        tiles = []
        for unit in fleet.units:
            name = unit.config.name
            cells = rows[name]
            state = cells.s["status"]
            heading = fleet.groups.get(name)
            if heading:
                tiles.append(f'<li class="group"><h3>{e(heading)}</h3></li>')
            tiles.append(
                f'<li data-unit="{e(name)}" data-state="{state}"><a href="'
                f'{e(unit_link(name, params.query()))}" title="{e(cells.t["status"])}">'
                f'<i class="ico" aria-hidden="true"></i><span>{e(name)}</span>'
                f"<small>{e(view.WORD[state])}</small></a></li>"
            )
        listing = f'<ul class="tiles" aria-label="Units">{"".join(tiles)}</ul>'
    else:
        head = []
        for css, label, sort in COLUMNS:
            if sort is None:
                head.append(f'<th scope="col" class="{css}">{e(label)}</th>')
                continue
            active = params.sort == sort
            aria = (
                f' aria-sort="{"ascending" if sort == "name" else "descending"}"' if active else ""
            )
            head.append(
                f'<th scope="col" class="{css}"{aria}><a href="{e(params.link(sort=sort, page=1))}"'
                f' data-sort="{sort}">{e(label)}</a></th>'
            )
        body = []
        for unit in fleet.units:
            name = unit.config.name
            heading = fleet.groups.get(name)
            if heading:
                body.append(
                    f'<tr class="group"><th scope="colgroup" colspan="{len(COLUMNS)}">'
                    f"{e(heading)}</th></tr>"
                )
            body.append(fleet_row(unit, rows[name], selected, params))
        listing = (
            '<table id="fleet-table"><caption class="sr-only">Units, '
            f"{e(SORT_WORDS[params.sort])}</caption>"
            f"<thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )
    return f"{listing}{pager(fleet)}"


def pager(fleet: FleetPage) -> str:
    """Where the page is in the fleet, and the links to the pages around it."""
    params = fleet.params
    size = PAGE_TILES if params.tiles else PAGE_ROWS
    first = (params.page - 1) * size + 1 if fleet.total else 0
    last = first + len(fleet.units) - 1 if fleet.total else 0
    links = [f"<span>{first} to {last} of {fleet.total}</span>"]
    if params.page > 1:
        links.append(f'<a href="{e(params.link(page=params.page - 1))}" rel="prev">Previous</a>')
    if params.page < fleet.pages:
        links.append(f'<a href="{e(params.link(page=params.page + 1))}" rel="next">Next</a>')
    return f'<nav class="pager" aria-label="Pages of the fleet">{" ".join(links)}</nav>'


SORT_WORDS = {
    "severity": "worst first",
    "name": "by name",
    "load": "by power, highest first",
}


def fleet_section(
    fleet: FleetPage, body: str, selected: str, label_keys: Sequence[str], totals: Cells
) -> str:
    """The fleet: its tools and ``body`` (:func:`fleet_body`)."""
    params = fleet.params
    groups = "".join(
        f'<option value="{e(k)}"{" selected" if params.group == k else ""}>{e(k)}</option>'
        for k in label_keys
    )
    hidden_unit = f'<input type="hidden" name="unit" value="{e(selected)}">' if selected else ""
    return (
        '<section id="fleet" aria-labelledby="fleet-h">'
        '<div class="fleet-head"><h2 id="fleet-h">Fleet</h2>'
        f'<p class="totals">{_k(totals, "f.count")} · {_k(totals, "f.power")}</p></div>'
        f'<form id="fleet-tools" class="tools" method="get" role="search">{hidden_unit}'
        f'<label>Find <input type="search" name="q" value="{e(params.q)}" '
        'placeholder="name, label, problem"></label>'
        '<label>Group by <select name="group"><option value="">nothing</option>'
        f"{groups}</select></label>"
        f'<label><input type="checkbox" name="problems" value="1"'
        f"{' checked' if params.problems else ''}> Problems only</label>"
        '<fieldset class="seg"><legend class="sr-only">Show as</legend>'
        f'<label><input type="radio" name="view" value="table"{"" if params.tiles else " checked"}>'
        " List</label>"
        f'<label><input type="radio" name="view" value="tiles"{" checked" if params.tiles else ""}>'
        " Tiles</label></fieldset>"
        f'<input type="hidden" name="sort" value="{e(params.sort)}">'
        '<button type="submit" class="apply">Show</button></form>'
        f'<div id="fleet-body" aria-live="off">{body}</div>'
        "</section>"
    )


# --- the unit --------------------------------------------------------------------------------


def unit_view(
    unit: UnitState,
    reading: Reading | None,
    cells: Cells,
    problems: Sequence[Problem],
    editable: bool,
    ackable: bool,
    known: Reading | None,
    back: str,
    records: Sequence[tuple[str, str]] = (),
    mode: str = "",
) -> str:
    """The unit as on its front panel: what is wrong and what to do first, then its
    channels by connector (pane D), then the meter and identity behind disclosures."""
    name = unit.config.name
    last = reading or known
    pen = (
        _pen(f"Rename unit {name}", "unit_name", name, None, reading.stored_name)
        if editable and reading is not None
        else ""
    )
    chain = "".join(
        f"<dt>{e(m.label)}</dt><dd>{_k(cells, f'd.{m.name}')}</dd>"
        for m in view.STATUS_MEASUREMENTS
    )
    lines = "".join(
        f'<div class="line"><span class="ln">{line}</span>{_k(cells, f"d.{line}")}'
        f"{_bar(cells, f'd.{line}', f'{line} against the input rating')}</div>"
        for line in LINES
    )
    rating = f"{last.model.input_rating_a:g} A input" if last else ""
    trip_state = cells.s.get("d.trip", "none")
    head = (
        f'<div class="unit-head"><a class="back" href="{e(back)}">'
        '<span aria-hidden="true">←</span> Fleet</a>'
        f'<h2 id="unit-h">{e(name)}</h2>{severity(cells, "d.status", "d.status")}'
        f'<span class="stored">name in the unit: {_k(cells, "d.stored")} {pen}</span>'
        f'<span class="age">read {_age(cells, "d.age")}</span></div>'
    )
    problems_html = (
        f'<div id="unit-problems">{unit_problems(problems, ackable)}</div>'
        f'<p class="trip" data-s="d.trip" data-state="{e(trip_state)}" aria-live="off">'
        f'{_k(cells, "d.trip.what")} trips in <span class="timer" data-k="d.trip">'
        f"{e(cells.t.get('d.trip', ''))}</span> if the load stays</p>"
    )
    identity = (
        '<details class="pane" id="identity"><summary>Identity</summary><dl class="kv">'
        f"<dt>Address</dt><dd>{_k(cells, 'd.address')}</dd>"
        f"<dt>Model</dt><dd>{_k(cells, 'd.model')}</dd>"
        f"<dt>Outputs</dt><dd>{_k(cells, 'd.layout')}</dd>"
        f"<dt>Aux socket</dt><dd>{_k(cells, 'd.aux')}</dd>"
        f"<dt>Serial</dt><dd>{_k(cells, 'd.serial')}</dd>"
        f"<dt>Firmware</dt><dd>{_k(cells, 'd.firmware')}</dd>"
        "</dl></details>"
    )
    record_links = (
        '<nav class="records" aria-label="Records of this unit">'
        + " ".join(f'<a href="{e(href)}">{e(text)}</a>' for text, href in records)
        + "</nav>"
        if records
        else ""
    )
    if reading is None:
        body = (
            f"{problems_html}"
            '<details class="raw"><summary>Error from the last poll</summary>'
            f"<code>{_k(cells, 'd.reason')}</code></details>"
            '<p class="fine">No values are shown while the unit cannot be read; the '
            "last-known identity is below.</p>"
            f"{identity}{record_links}"
        )
        return (
            f'<section id="unit" data-detail="{e(name)}" data-s="d.up" data-state="down" '
            f'aria-labelledby="unit-h">{head}{body}</section>'
        )
    return (
        f'<section id="unit" data-detail="{e(name)}" data-s="d.up" data-state="up" '
        f'aria-labelledby="unit-h">{head}{problems_html}'
        f'<div class="pane status"><dl class="chain">{chain}</dl>'
        f'<div class="lines" aria-label="Line currents against the {e(rating)}">{lines}</div>'
        "</div>"
        f"{channels(cells, reading, name, editable, frozenset(unit.config.supervision), mode)}"
        f"{meter(cells, reading)}{identity}{record_links}</section>"
    )


NAME_CLASS = ' class="nm"'
PROBLEM_CLASS = ' class="ch-problem"'
TRIP_CLASS = ' class="ch-trip"'


def channels(
    cells: Cells,
    reading: Reading,
    unit: str,
    editable: bool,
    fixed: frozenset[int] = frozenset(),
    mode: str = "",
) -> str:
    """Pane D: each output connector as a block of its channels.

    :param fixed: channels whose band the config file sets (not editable here).
    :param mode: who may change names and bands, in words."""
    mode_note = f'<p class="hint mode-note">{e(mode)}</p>' if mode else ""
    by_number = {c.number: c for c in reading.channels}
    blocks = []
    for connector in reading.model.layout.connectors:
        tiles = []
        for number in connector.channels:
            c = by_number[number]
            k = f"c.{number}."
            rating = reading.load_rating_a(c)
            aux = (
                f'<span class="aux">+ {e(reading.model.aux_socket.name)} socket</span>'
                if number == reading.model.aux_channel
                else ""
            )
            rename = (
                _pen(f"Rename channel {number}", "channel_name", unit, number, c.name)
                if editable
                else ""
            )
            band_value = (
                ""
                if not c.supervision.enabled
                else f"{'' if c.supervision.min_a is None else f'{c.supervision.min_a:g}'}"
                f"|{'' if c.supervision.max_a is None else f'{c.supervision.max_a:g}'}"
            )
            if number in fixed:
                band_edit = '<span class="hint">(set in the config file)</span>'
            elif editable:
                band_edit = _pen(
                    f"Supervision band of channel {number}", "band", unit, number, band_value,
                    rating=f"{rating:g}",
                )  # fmt: skip
            else:
                band_edit = ""
            more = "".join(
                f'<div class="ch-more">{e(m.label)} {_k(cells, k + m.name)}</div>'
                for m in view.CHANNEL_MORE
            )
            tiles.append(
                f'<li class="ch" data-channel="{number}" data-s="{k}" '
                f'data-state="{e(cells.s.get(k, "ok"))}">'
                f'<div class="ch-top"><span class="num">{number}</span>'
                f'<span class="led" data-s="{k}load" data-state="{e(cells.s[k + "load"])}" '
                f'role="img" aria-label="Load LED: {e(cells.t[k + "load"])}"></span>'
                f"{_k(cells, k + 'name', extra=NAME_CLASS)}{rename}</div>"
                f'<div class="ch-cur">{_k(cells, k + "current")}'
                f'<span class="of">of {rating:g} A</span></div>'
                f"{_bar(cells, k + 'current', f'against its {rating:g} A rating', k)}"
                f'<div class="ch-brk">Breaker {_k(cells, k + "breaker", "b")}</div>{more}'
                f'<div class="ch-band">Band {_k(cells, k + "band")} {band_edit}</div>'
                f"{_k(cells, k + 'problem', 'p', PROBLEM_CLASS)}"
                f"{_k(cells, k + 'trip', 'p', TRIP_CLASS)}"
                f'{aux}<span class="ph">{e(c.phase)}</span></li>'
            )
        blocks.append(
            f'<section class="connector" aria-labelledby="con-{e(connector.label)}">'
            f'<h3 id="con-{e(connector.label)}">Connector {e(connector.label)} '
            f"<small>{e(connector.type)}</small></h3>"
            f'<ul class="chs">{"".join(tiles)}</ul></section>'
        )
    return (
        '<section class="pane" id="pane-d" aria-labelledby="channels-h">'
        f'<h3 id="channels-h" class="pane-h">Channels</h3><div class="connectors">'
        f"{''.join(blocks)}</div>{mode_note}</section>"
    )


def meter(cells: Cells, reading: Reading) -> str:
    """The meter behind a disclosure, in plain labels (the measurements' display hints)."""
    heads = "".join(f'<th scope="col">{p}</th>' for p in LINES)
    rows = []
    for row in view.LINE_ROWS:
        m = row.phase
        values = "".join(f'<td class="num">{_k(cells, f"m.{m.name}.{p}")}</td>' for p in PHASES)
        values += (
            f'<td class="num">{_k(cells, f"m.{m.name}.N")}</td>' if row.neutral else "<td></td>"
        )
        rows.append(f'<tr><th scope="row">{e(m.label)}</th>{values}</tr>')
    unit_rows = "".join(
        f"<dt>{e(label)}</dt><dd>{_k(cells, f'm.{name}')}</dd>"
        for label, name in [
            *((m.label, m.name) for m in view.UNIT_ROWS),
            *((d.label, d.name) for d in view.DERIVED_ROWS),
        ]
    )
    return (
        '<details class="pane" id="meter"><summary>Meter details</summary>'
        f'<table class="meter"><thead><tr><td></td>{heads}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        f'<dl class="kv">{unit_rows}'
        f"<dt>To even the phases</dt><dd>{_k(cells, 'd.advice')}</dd></dl>"
        '<p class="hint">Power factor without sign; THD against the fundamental; the meter '
        "reads before the switch, so voltages show with the switch off.</p></details>"
    )


# --- the whole page -----------------------------------------------------------------------------


def page(
    *,
    title: str,
    banner_html: str,
    fleet_html: str,
    unit_html: str,
    selected: str,
    mode: str,
    editable: bool,
    token: str,
    jobs_html: str = "",
    query: str = "",
    events: bool = False,
    sign_in: bool = False,
) -> str:
    view_name = "unit" if selected else "events" if events else "fleet"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{e(title)}</title>
<link rel="icon" id="favicon" href="console/static/favicon.svg">
<link rel="stylesheet" href="console/static/console.css?v={e(__version__)}">
<script src="console/static/console.js?v={e(__version__)}" defer></script>
</head>
<body data-selected="{e(selected)}" data-view="{view_name}" data-editable="{int(editable)}"
 data-token="{e(token)}" data-query="{e(query)}" data-title="{e(title)}">
{ICONS}
<a class="skip" href="#{view_name}">Skip to the {view_name}</a>
{banner_html}
<div id="announce" class="sr-only" aria-live="polite"></div>
<header class="top">
<h1><a href="./">{e(title)}</a></h1>
<p class="mode" id="mode">{e(mode)}</p>
<nav aria-label="Console"><a href="?events=1">Events</a>
<a href="#jobs">Jobs</a> <a href="console/integrations">Integrations</a>
{'<a href="console/signin">Sign in</a>' if sign_in else ""}
<button type="button" id="theme" aria-pressed="false">Dark</button></nav>
</header>
<main id="main">
{unit_html}
{fleet_html}
{jobs_html}
</main>
<div id="msg" role="alert"></div>
<dialog id="edit" aria-labelledby="edit-h">
<form method="dialog" id="edit-form" novalidate>
<h2 id="edit-h">Edit</h2>
<p id="edit-what" class="hint"></p>
<div id="edit-name"><label for="edit-name-input">Name</label>
<input id="edit-name-input" name="name" autocomplete="off" aria-describedby="edit-bytes">
<p class="hint" id="edit-bytes">At most 16 bytes (16 plain letters; accented letters take 2).
Leave it empty to clear the name.</p></div>
<div id="edit-band"><label>Lowest current, A <input id="edit-min" name="min"
 inputmode="decimal" autocomplete="off"></label>
<label>Highest current, A <input id="edit-max" name="max" inputmode="decimal"
 autocomplete="off"></label>
<p class="hint" id="edit-band-hint">Leave both empty to stop watching this channel.
Steps of 0.01 A.</p></div>
<p id="edit-error" role="alert"></p>
<div class="buttons"><button type="submit" id="edit-save" value="save">Save</button>
<button type="button" id="edit-cancel">Cancel</button></div>
</form>
</dialog>
<footer>c12exporter {e(__version__)} · <a href="console/integrations">Integrations</a>
(Prometheus, SNMP, service discovery)</footer>
</body>
</html>
"""


def integrations(links: Iterable[Route], title: str) -> str:
    """The plumbing, out of the crew's way: the exporter's routes, and each measurement's
    Prometheus metric and C12-PDU-MIB object."""
    nav = "".join(
        f'<li><a href="../{e(r.path.lstrip("/"))}">{e(r.path)}</a>'
        f"{(' — ' + e(re.sub('<[^>]+>', '', r.description))) if r.description else ''}</li>"
        for r in links
    )
    rows = "".join(
        f"<tr><th scope='row'>{e(m.label)}</th><td>{e(m.scope.value)}</td>"
        f"<td><code>{e(view_source_metric(m))}</code></td>"
        f"<td><code>{e(m.column.name if m.column else '')}</code></td></tr>"
        for m in MEASUREMENTS
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Integrations · {e(title)}</title>
<link rel="icon" href="static/favicon.svg">
<link rel="stylesheet" href="static/console.css?v={e(__version__)}"></head>
<body class="plain"><main id="main">
<p><a href="../">← Fleet console</a></p>
<h1>Integrations</h1>
<p>What other systems read. Prometheus scrapes <code>/metrics</code> (or one unit through
<code>/probe?target=NAME</code>); service discovery lists the units; SNMP managers walk
C12-PDU-MIB.</p>
<h2>Routes</h2><ul>{nav}</ul>
<h2>Values</h2>
<div class="scroll"><table><thead><tr><th scope="col">Value</th><th scope="col">Per</th>
<th scope="col">Prometheus metric</th><th scope="col">SNMP object</th></tr></thead>
<tbody>{rows}</tbody></table></div>
</main></body></html>
"""


def view_source_metric(m: Measurement) -> str:
    if m.metric is None:
        return ""
    return m.metric_name + ("_total" if m.metric.counter else "")
