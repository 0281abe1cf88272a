"""The fan-out behind ``sync_campaigns``: no work outlives it, even when it ends with an error."""

from __future__ import annotations

import threading

import pytest

from mixo_pipeline.ad_platform.fanout import fan_out


def test_an_error_is_raised_only_once_the_running_work_has_ended() -> None:
    # A sync still running after its step ended could be retried alongside itself; so the
    # error waits for it. The slow item ends only when released: before the error is raised
    # (the released thread sees no error yet) unless the fan-out returned without waiting.
    slow_running, release, raised = threading.Event(), threading.Event(), threading.Event()
    order: list[str] = []

    def work(item: str) -> str:
        if item == "slow":
            slow_running.set()
            release.wait(10)
            order.append("slow ended")
            return item
        slow_running.wait(10)
        raise RuntimeError("sync failed")

    def release_once_raised_or_after_a_second() -> None:
        raised.wait(1.0)
        release.set()

    threading.Thread(target=release_once_raised_or_after_a_second, daemon=True).start()
    with pytest.raises(RuntimeError, match="sync failed"):
        try:
            list(fan_out(work, ["slow", "fails"], workers=2))
        finally:
            order.append("raised")
            raised.set()

    assert order == ["slow ended", "raised"]
