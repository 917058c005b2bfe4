"""``c12exporter <command>``: serve, check-config, simulate, demo, register-map."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence

from . import __version__
from .config import ConfigError, load_config
from .lifecycle import Signals
from .plugins import PluginError, load_plugins
from .registermap import markdown_table

log = logging.getLogger(__name__)

LOG_LEVELS = ("debug", "info", "warn", "error")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, {"warn": "WARNING"}.get(args.log_level, args.log_level.upper())),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        result: int = args.func(args)
    except (ConfigError, PluginError) as error:
        print(f"c12exporter: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="c12exporter",
        description="Monitoring for StageSmarts C12B power distribution units.",
    )
    parser.add_argument("--version", action="version", version=f"c12exporter {__version__}")
    parser.add_argument(
        "--log.level", dest="log_level", choices=LOG_LEVELS, default="info",
        help="only log messages with this severity or above (default: info)",
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
        "--web.listen-address",
        dest="listen_address",
        metavar="ADDR",
        help="address to serve HTTP on (default from config, else :10120)",
    )
    serve.add_argument(
        "--web.config.file",
        dest="web_config_file",
        metavar="FILE",
        help="TLS and basic auth, exporter-toolkit format (docs/configuration.md)",
    )
    serve.set_defaults(func=_serve)  # fmt: skip

    check = commands.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("config_file", metavar="FILE")
    check.set_defaults(func=_check_config)

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

    regmap = commands.add_parser("register-map", help="print the register map as Markdown")
    regmap.set_defaults(func=lambda args: print(markdown_table()) or 0)
    return parser


def _check_config(args: argparse.Namespace) -> int:
    config = load_config(args.config_file, load_plugins())
    print(f"{args.config_file}: OK, {len(config.units)} units")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .exporter import start_exporter

    plugins = load_plugins()
    web = {"listen_address": args.listen_address, "config_file": args.web_config_file}
    overrides = {"web": {k: v for k, v in web.items() if v}}
    config = load_config(args.config_file, plugins, overrides)

    async def serve() -> None:
        signals = Signals()
        exporter = await start_exporter(config, plugins)

        current = config

        async def reload() -> None:
            # A new config takes effect whole: units added and removed, exposers restarted.
            # A config that does not load leaves the running exporter untouched.
            nonlocal exporter, current
            try:
                new_config = load_config(args.config_file, plugins, overrides)
            except ConfigError as error:
                log.error("reload refused, still serving the previous config: %s", error)
                return
            await exporter.stop()
            try:
                exporter = await start_exporter(new_config, plugins)
            except ConfigError as error:  # e.g. a new listen address that is taken
                log.error("reload failed, back to the previous config: %s", error)
                exporter = await start_exporter(current, plugins)
                return
            current = new_config
            log.info("reloaded %s: %d units", args.config_file, len(new_config.units))

        try:
            await signals.serve(reload)
        finally:
            await exporter.stop()

    return _run(serve())


def _run(coroutine: object) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(coroutine)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
