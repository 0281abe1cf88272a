"""The mutable world of one mock server: accounts, tokens, windows, catalogs, faults, stats.

Everything is touched only from the server's event loop. The one exception is
``release_waiters``, which another thread (the test harness, a signal handler) calls so that
hanging and sleeping requests end at once and the server can stop cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from mock_api.accounts import MockAccount, load_accounts
from mock_api.campaigns import CampaignCatalog
from mock_api.config import MockConfig
from mock_api.faults import FaultInjector, Outages, client_rng
from mock_api.rate_window import RateLimiter
from mock_api.stats import Stats
from mock_api.tokens import TokenStore


class MockState:
    """Shared state behind the request handlers of one app."""

    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self.accounts: dict[str, MockAccount] = load_accounts(config.accounts, config.campaigns)
        self.by_email = {a.email: a for a in self.accounts.values()}
        self.tokens = TokenStore(config.token_ttl_s, strict=config.strict)
        self.limiter = RateLimiter(
            config.rate_limit, config.rate_window_s, record_refused=config.strict
        )
        self.faults = FaultInjector(config)
        self.started_mono = time.monotonic()
        self.outages = Outages(config, self.started_mono)
        self.stats = Stats(config.rate_window_s)
        self.catalogs = {
            cid: CampaignCatalog(
                a.campaigns, client_rng(config.seed, "figures", cid), strict=config.strict
            )
            for cid, a in self.accounts.items()
        }
        self._loop: asyncio.AbstractEventLoop | None = None
        self._released: asyncio.Event | None = None
        self._release_requested = False

    def _event(self) -> asyncio.Event:
        if self._released is None:
            self._loop = asyncio.get_running_loop()
            self._released = asyncio.Event()
            if self._release_requested:
                self._released.set()
        return self._released

    def on_startup(self) -> None:
        """Start the clock (uptime, scheduled outages) when serving begins, not when built.

        Also attaches to the running loop early, so ``release_waiters`` can reach it.
        """
        self.started_mono = time.monotonic()
        self.outages = Outages(self.config, self.started_mono)
        self._event()

    def release_waiters(self) -> None:
        """End every hang and sleep now; safe to call from any thread or a signal handler."""
        self._release_requested = True
        if self._loop is not None and self._released is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed: nothing is waiting
                self._loop.call_soon_threadsafe(self._released.set)

    async def sleep(self, seconds: float) -> bool:
        """Sleep ``seconds``; False when cut short because the server is stopping."""
        event = self._event()
        if seconds <= 0:
            return not event.is_set()
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            return True
        return False

    async def hang(self, receive: Any) -> None:
        """Never answer: return only when the client disconnects or the server stops."""
        event = self._event()

        async def until_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        waiters = [asyncio.ensure_future(until_disconnect()), asyncio.ensure_future(event.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def config_json(self) -> dict[str, Any]:
        c = self.config
        return {
            "rate_limit": c.rate_limit,
            "rate_window_s": c.rate_window_s,
            "sync_latency_s": c.sync_latency_s,
            "token_ttl_s": c.token_ttl_s,
            "time_scale": c.time_scale,
            "error_rate": c.error_rate,
            "hang_rate": c.hang_rate,
            "seed": c.seed,
            "compat": c.compat,
            "campaigns": c.campaigns,
            "max_page_size": c.max_page_size,
            "accounts": sorted(self.accounts),
            "outages": [
                {"start_s": o.start * c.time_scale, "end_s": o.end * c.time_scale, "mode": o.mode}
                for o in c.outages
            ],
        }
