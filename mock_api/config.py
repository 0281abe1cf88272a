"""Every knob of the mock in one frozen dataclass.

Defaults are the figures the API contract documents, so a bare ``MockConfig()`` behaves like the
platform. Durations are stored as the documented *unscaled* seconds; the ``*_s`` properties apply
``time_scale`` so the rest of the mock never has to remember to scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

CompatMode = Literal["strict", "original"]
OutageMode = Literal["error", "hang"]
COMPAT_MODES: tuple[CompatMode, ...] = ("strict", "original")
OUTAGE_MODES: tuple[OutageMode, ...] = ("error", "hang")


@dataclass(frozen=True)
class Outage:
    """A scheduled outage: from ``start`` to ``end`` seconds after the server starts (unscaled)."""

    start: float
    end: float
    mode: OutageMode = "error"

    @classmethod
    def parse(cls, text: str) -> Outage:
        """Parse ``START:END`` or ``START:END:hang`` (the ``--outage`` flag's syntax)."""
        parts = text.strip().split(":")
        if len(parts) not in (2, 3):
            raise ValueError(f"outage {text!r} must be START:END or START:END:MODE")
        try:
            start, end = float(parts[0]), float(parts[1])
        except ValueError:
            raise ValueError(f"outage {text!r}: START and END must be numbers of seconds") from None
        mode = parts[2] if len(parts) == 3 else "error"
        if mode not in OUTAGE_MODES:
            raise ValueError(f"outage {text!r}: mode must be one of {', '.join(OUTAGE_MODES)}")
        if start < 0 or end <= start:
            raise ValueError(f"outage {text!r}: need 0 <= START < END")
        return cls(start=start, end=end, mode=mode)  # type: ignore[arg-type]


@dataclass(frozen=True)
class MockConfig:
    """All knobs of the mock ad platform (see ``python -m mock_api --help``)."""

    host: str = "127.0.0.1"
    port: int = 3001
    campaigns: int = 100
    """Campaigns per generated account."""
    max_page_size: int = 100
    """Largest ``limit`` the strict mock accepts (the original accepts any)."""
    sync_latency: float = 2.0
    """Seconds every sync call takes (unscaled)."""
    token_ttl: float = 3600.0
    """Token lifetime in seconds (unscaled)."""
    rate_limit: int = 10
    """Requests admitted per client per window."""
    rate_window: float = 60.0
    """Sliding window length in seconds (unscaled)."""
    error_rate: float = 0.2
    """Share of admitted API requests answered with 503 (strict mode)."""
    hang_rate: float = 0.1
    """Share of admitted API requests that never answer (strict mode)."""
    seed: int | None = None
    """Seed for failures and figures; ``None`` draws fresh randomness."""
    time_scale: float = 1.0
    """Multiplies every duration, so 0.01 runs the documented behaviour 100x faster."""
    accounts: int | str | Path | None = None
    """``N`` generated accounts ``client_1..client_N``, or a JSON/YAML file of accounts."""
    outages: tuple[Outage, ...] = field(default_factory=tuple)
    compat: CompatMode = "strict"

    def __post_init__(self) -> None:
        problems = []
        if self.campaigns < 0:
            problems.append("campaigns must be >= 0")
        if self.max_page_size < 1:
            problems.append("max_page_size must be >= 1")
        if self.rate_limit < 1:
            problems.append("rate_limit must be >= 1")
        if self.sync_latency < 0:
            problems.append("sync_latency must be >= 0")
        problems += [
            f"{name} must be positive"
            for name in ("token_ttl", "rate_window", "time_scale")
            if getattr(self, name) <= 0
        ]
        for name in ("error_rate", "hang_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be between 0 and 1")
        if self.error_rate + self.hang_rate > 1.0:
            problems.append("error_rate + hang_rate must not exceed 1")
        if self.compat not in COMPAT_MODES:
            problems.append(f"compat must be one of {', '.join(COMPAT_MODES)}")
        if problems:
            raise ValueError("invalid mock configuration: " + "; ".join(problems))

    @property
    def strict(self) -> bool:
        return self.compat == "strict"

    @property
    def rate_window_s(self) -> float:
        return self.rate_window * self.time_scale

    @property
    def sync_latency_s(self) -> float:
        return self.sync_latency * self.time_scale

    @property
    def token_ttl_s(self) -> float:
        return self.token_ttl * self.time_scale

    def seconds(self, value: float) -> int | float:
        """How the API reports a scaled duration: whole seconds at scale 1, else a float.

        Rounded *up* to the millisecond so a client that waits exactly this long is never early.
        """
        if self.time_scale == 1.0:
            return int(-(-value // 1))
        return max(0.0, -(-round(value * 1000, 6) // 1) / 1000)
