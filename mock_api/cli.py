"""Command line and ``MOCK_<FLAG>`` environment variables -> ``MockConfig``.

Users' scripts rely on these flag names. A flag given on the command line wins over its
environment variable, which wins over the documented default.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from mock_api.config import COMPAT_MODES, MockConfig, Outage

_DEFAULTS = {f.name: f.default for f in fields(MockConfig) if f.name != "outages"}


@dataclass(frozen=True)
class _Knob:
    flag: str
    field: str
    parse: Callable[[str], Any]
    metavar: str
    help: str


def _seed(text: str) -> int | None:
    return None if text.strip().lower() in ("", "none", "random") else int(text)


def _accounts(text: str) -> int | str | None:
    text = text.strip()
    if not text:
        return None
    return int(text) if text.isdigit() else text


def _compat(text: str) -> str:
    if text not in COMPAT_MODES:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(COMPAT_MODES)}")
    return text


def _outage(text: str) -> Outage:
    try:
        return Outage.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


KNOBS = (
    _Knob("--host", "host", str, "HOST", "interface to listen on"),
    _Knob("--port", "port", int, "PORT", "port to listen on; 0 picks a free one"),
    _Knob("--campaigns", "campaigns", int, "N", "campaigns per generated account"),
    _Knob("--max-page-size", "max_page_size", int, "N", "largest `limit` accepted (strict mode)"),
    _Knob("--sync-latency", "sync_latency", float, "SECONDS", "duration of every sync call"),
    _Knob("--token-ttl", "token_ttl", float, "SECONDS", "token lifetime"),
    _Knob("--rate-limit", "rate_limit", int, "N", "requests admitted per client per window"),
    _Knob("--rate-window", "rate_window", float, "SECONDS", "sliding rate-limit window"),
    _Knob(
        "--error-rate",
        "error_rate",
        float,
        "P",
        "share of admitted list/sync calls answered 503 (strict mode)",
    ),
    _Knob(
        "--hang-rate",
        "hang_rate",
        float,
        "P",
        "share of admitted list/sync calls never answered (strict mode)",
    ),
    _Knob("--seed", "seed", _seed, "INT", "seed for failures and figures"),
    _Knob(
        "--time-scale",
        "time_scale",
        float,
        "F",
        "multiplies every duration (window, latency, TTL, retry_after, outages)",
    ),
    _Knob(
        "--accounts",
        "accounts",
        _accounts,
        "N|FILE",
        "add N generated accounts client_<n> (email client_<n>@mixoads.com, password "
        "client_<n>-password), or load a JSON/YAML list of {client_id, email, password, "
        "campaigns?}; the documented account is always there",
    ),
    _Knob(
        "--compat",
        "compat",
        _compat,
        "MODE",
        "strict (validated tokens, Retry-After header, random 503s and hangs) or original "
        "(the original server's quirks)",
    ),
)


_SHOWN_NONE = {"seed": "random", "accounts": "only the documented account"}


def _shown(field: str) -> str:
    default = _DEFAULTS[field]
    return _SHOWN_NONE[field] if default is None else str(default)


def env_name(flag: str) -> str:
    return "MOCK_" + flag.removeprefix("--").replace("-", "_").upper()


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="python -m mock_api",
        description="Run the mock ad platform. Every flag can also be set by its MOCK_<FLAG> "
        "environment variable; a flag on the command line wins. Durations are the documented "
        "seconds and are multiplied by --time-scale.",
    )
    for knob in KNOBS:
        name = env_name(knob.flag)
        default = _DEFAULTS[knob.field]
        if name in environ:
            try:
                default = knob.parse(environ[name])
            except (ValueError, argparse.ArgumentTypeError) as exc:
                parser.error(f"{name}={environ[name]!r}: {exc}")
        parser.add_argument(
            knob.flag,
            dest=knob.field,
            type=knob.parse,
            default=default,
            metavar=knob.metavar,
            help=f"{knob.help} (default: {_shown(knob.field)}) [env {name}]",
        )
    outage_env = environ.get("MOCK_OUTAGE", "")
    parser.add_argument(
        "--outage",
        dest="outages",
        type=_outage,
        action="append",
        metavar="START:END[:hang]",
        help="outage window, seconds after start (repeatable): every API call, /health "
        "included, answers 503, or hangs with ':hang' [env MOCK_OUTAGE, comma-separated] "
        "(default: none)",
    )
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when stdin reaches its end: the parent holding the other end of the pipe "
        "exited or was killed (MockProcess passes this)",
    )
    parser.set_defaults(_outage_env=outage_env)
    return parser


def parse_config(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> MockConfig:
    return parse_command_line(argv, environ)[0]


def parse_command_line(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[MockConfig, bool]:
    """The mock's configuration, and whether it exits with its parent (``--exit-with-parent``)."""
    parser = build_parser(environ)
    args = vars(parser.parse_args(argv))
    outage_env = args.pop("_outage_env")
    exit_with_parent = args.pop("exit_with_parent")
    if args["outages"] is None:
        try:
            args["outages"] = [Outage.parse(o) for o in outage_env.split(",") if o.strip()]
        except ValueError as exc:
            parser.error(f"MOCK_OUTAGE: {exc}")
    args["outages"] = tuple(args["outages"])
    try:
        return MockConfig(**args), exit_with_parent
    except ValueError as exc:
        parser.error(str(exc))
