"""``c12exporter <command>``: serve, check-config, simulate, demo, discover, check,
systemd-unit, register-map, docs, mib, zabbix-trap."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__, logformat
from .config import load_config
from .lifecycle import Signals
from .modbus.registermap import markdown_table
from .plugins import Plugins, load_plugins
from .registry import PluginError
from .settings import Config, ConfigError

log = logging.getLogger(__name__)

LOG_LEVELS = ("debug", "info", "warn", "error")
SERVING = ("serve", "check-config")
"""Commands that need none of the others' modules (the simulator's pymodbus, the demo,
discovery, the check plugin ...): a long-running exporter does not import them."""
GLOBAL_OPTIONS_WITH_VALUE = ("--log.level", "--log.format")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["zabbix-trap"]:
        # snmptrapd runs it once per notification, one after the other: skip loading the
        # plugins (a third of a second each time) so that a burst of traps keeps up.
        from .snmp import zabbixtrap

        return zabbixtrap.main(arguments[1:])
    try:
        plugins = load_plugins()
    except PluginError as error:
        print(f"c12exporter: {error}", file=sys.stderr)
        return 2
    parser = _parser(plugins, serving=_command(arguments) in SERVING)
    args = parser.parse_args(arguments)
    args.plugins = plugins
    logformat.configure(
        getattr(logging, {"warn": "WARNING"}.get(args.log_level, args.log_level.upper())),
        args.log_format,
    )
    try:
        result: int = args.func(args)
    except (ConfigError, PluginError) as error:
        print(f"c12exporter: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return result


def _command(arguments: Sequence[str]) -> str | None:
    """The sub-command ``arguments`` name: the first word that is neither an option nor
    the value of a global option."""
    words = iter(arguments)
    for word in words:
        if word in GLOBAL_OPTIONS_WITH_VALUE:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _parser(plugins: Plugins, *, serving: bool = False) -> argparse.ArgumentParser:
    """The whole command line; with ``serving``, only :data:`SERVING`'s commands."""
    parser = argparse.ArgumentParser(
        prog="c12exporter",
        description="Monitoring for StageSmarts C12B power distribution units.",
    )
    parser.add_argument("--version", action="version", version=f"c12exporter {__version__}")
    parser.add_argument(
        "--log.level", dest="log_level", choices=LOG_LEVELS, default="info",
        help="only log messages with this severity or above (default: info)",
    )  # fmt: skip
    parser.add_argument(
        "--log.format", dest="log_format", choices=logformat.FORMATS, default="logfmt",
        help="log lines as logfmt or JSON, one record a line (default: logfmt)",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="poll the configured units and serve metrics")
    serve.add_argument(
        "--config.file",
        dest="config_file",
        required=True,
        metavar="FILE",
        help="YAML config file (see docs/configuration.md)",
    )
    serve.add_argument(
        "--shard",
        metavar="I/N",
        help="poll only shard I of N of the fleet (by unit name), so N exporters with one "
        "config split it exactly; overrides the config's shard:",
    )
    plugins.hook.c12_add_options(parser=serve)
    serve.set_defaults(func=_serve)

    check = commands.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("config_file", metavar="FILE")
    check.set_defaults(func=_check_config)
    if serving:
        return parser

    from .simulator import cli as simulator_cli

    simulate = commands.add_parser("simulate", help="run a simulated fleet of C12B units")
    simulator_cli.add_arguments(simulate)
    simulate.set_defaults(func=lambda args: _run(simulator_cli.run(args)))

    from . import demo

    demo_parser = commands.add_parser(
        "demo", help="simulated warehouse + exporter (+ Prometheus if installed)"
    )
    demo.add_arguments(demo_parser)
    demo_parser.set_defaults(func=lambda args: _run(demo.run(args)))

    from .discovery import cli as discovery_cli

    discover = commands.add_parser("discover", help="find C12B units on a network")
    discovery_cli.add_arguments(discover)
    discover.set_defaults(func=discovery_cli.run)

    from . import check as check_plugin

    check_parser = commands.add_parser(
        "check",
        help="check plugin (Nagios, Icinga): one unit or the fleet, exit 0-3",
        allow_abbrev=False,
    )
    check_plugin.add_arguments(check_parser)
    check_plugin.make_error(check_parser)
    check_parser.set_defaults(func=check_plugin.run)

    from . import advise

    advise_parser = commands.add_parser(
        "advise", help="read a unit and say which load to move to balance its phases"
    )
    advise.add_arguments(advise_parser)
    advise_parser.set_defaults(func=advise.run)

    from .snmp import mibfiles

    mib = commands.add_parser(
        "mib", help="write C12-PDU-MIB and the modules it imports into a directory"
    )
    mibfiles.add_arguments(mib)
    mib.set_defaults(func=mibfiles.run)

    from .snmp import zabbixtrap

    zabbix_trap = commands.add_parser(
        "zabbix-trap",
        help="snmptrapd trap handler: append the notification to Zabbix's SNMP trap file",
    )
    zabbixtrap.add_arguments(zabbix_trap)
    zabbix_trap.set_defaults(func=zabbixtrap.run)

    from .history import cli as history_cli

    history_cli.add_commands(commands)

    unit = commands.add_parser(
        "systemd-unit", help="print the systemd unit (or its drop-in for SNMP on port 161)"
    )
    unit.add_argument(
        "--snmp-port-161", action="store_true",
        help="print the drop-in that lets the SNMP agent bind port 161 instead",
    )  # fmt: skip
    unit.add_argument(
        "--command", metavar="PATH",
        help="the c12exporter command for ExecStart (default: this installation's)",
    )  # fmt: skip
    unit.set_defaults(func=_systemd_unit)

    regmap = commands.add_parser("register-map", help="print the register map as Markdown")
    regmap.set_defaults(func=lambda args: print(markdown_table()) or 0)

    docs = commands.add_parser(
        "docs", help="rewrite the generated parts of docs/ from the declarations"
    )
    docs.add_argument("--dir", type=Path, default=Path("docs"), help="(default: %(default)s)")
    docs.set_defaults(func=_docs)
    return parser


def _docs(args: argparse.Namespace) -> int:
    from .prometheus import reference
    from .snmp import mibgen

    (args.dir / "register-map.md").write_text(markdown_table() + "\n", encoding="utf-8")
    metrics, mib = args.dir / "metrics.md", args.dir / "mib.md"
    metrics.write_text(reference.update(metrics.read_text(encoding="utf-8")), encoding="utf-8")
    mib.write_text(mibgen.render_docs(mib.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {args.dir / 'register-map.md'} and the tables of {metrics} and {mib}")
    return 0


def _systemd_unit(args: argparse.Namespace) -> int:
    from . import systemd

    text = systemd.packaged(systemd.SNMP_PORT_161) if args.snmp_port_161 else None
    print(text or systemd.unit_text(args.command), end="")
    return 0


def _check_config(args: argparse.Namespace) -> int:
    config = load_config(args.config_file, args.plugins)
    print(f"{args.config_file}: OK, {len(config.units)} units")
    return 0


def option_overrides(args: argparse.Namespace) -> dict[str, dict[str, object]]:
    """Options whose ``dest`` is ``section.key`` (see the ``c12_add_options`` hook), as
    config overrides: ``{"web": {"listen_address": ":9999"}}``."""
    overrides: dict[str, dict[str, object]] = {}
    for dest, value in vars(args).items():
        section, dot, key = dest.partition(".")
        if dot and value is not None:
            overrides.setdefault(section, {})[key] = value
    return overrides


def _serve(args: argparse.Namespace) -> int:
    from .allocator import map_large_blocks_apart
    from .exporter import start_exporter
    from .fdlimit import raise_open_file_limit

    raise_open_file_limit()
    map_large_blocks_apart()
    plugins = args.plugins
    overrides = option_overrides(args)

    def load() -> Config:
        return load_config(args.config_file, plugins, overrides, shard=args.shard)

    config = load()

    async def serve() -> None:
        signals = Signals()
        exporter = await start_exporter(config, plugins, load)
        try:
            await signals.serve(exporter.reload)
        finally:
            await exporter.stop()

    return _run(serve())


def _run(coroutine: object) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(coroutine)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
