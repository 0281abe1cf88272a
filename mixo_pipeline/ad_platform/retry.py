"""What an HTTP outcome means (:func:`classify`), and the one retry policy API calls and the
login share (:class:`RetryRule`, driving tenacity)."""

import random
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception_type

from mixo_pipeline.ad_platform.models import finite_number
from mixo_pipeline.ad_platform.settings import ClientSettings

TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504, TIMEOUT, CONNECTION_ERROR})


class Verdict(Enum):
    OK = "ok"
    RELOGIN = "relogin"  # 401: the token was refused; log in again and replay
    RATE_LIMITED = "rate_limited"  # 429: wait what the platform asks, then replay
    RETRY = "retry"  # 5xx, timeout, connection error: back off and replay
    FATAL = "fatal"  # anything else: retrying cannot help


def classify(status: int | str) -> Verdict:
    """The verdict on one attempt that ended with HTTP ``status`` (or ``timeout``...)."""
    if status in RETRYABLE_STATUSES:
        return Verdict.RETRY
    if isinstance(status, int) and 200 <= status < 300:
        return Verdict.OK
    if status == 401:
        return Verdict.RELOGIN
    return Verdict.RATE_LIMITED if status == 429 else Verdict.FATAL


class Retryable(Exception):
    """An attempt failed in a way worth another attempt."""

    def __init__(self, verdict: Verdict, status: int | str, retry_after_s: float | None = None):
        super().__init__(f"{verdict.value} (last status: {status})")
        self.verdict = verdict
        self.status = status
        self.retry_after_s = retry_after_s


class RetryRule:
    """One call's retry state: failures count towards ``max_attempts`` (a first 401 is replayed
    at once, later failures back off with full jitter); 429s wait what they ask (else a window),
    capped, until ``rate_limited_deadline_s`` of such waits."""

    def __init__(self, settings: ClientSettings) -> None:
        self._settings = settings
        self.failures = 0
        self.rate_limited_s = 0.0

    def retrying(
        self, before_sleep: Callable[[RetryCallState], None], sleep: Callable[[float], object]
    ) -> Retrying:
        return Retrying(
            retry=retry_if_exception_type(Retryable),
            wait=self._wait,
            stop=self._stop,
            before_sleep=before_sleep,
            sleep=sleep,
            reraise=True,
        )

    def _wait(self, state: RetryCallState) -> float:
        failure = failure_of(state)
        settings = self._settings
        if failure.verdict is Verdict.RATE_LIMITED:
            asked = failure.retry_after_s
            return min(settings.window_s if asked is None else asked, settings.retry_after_cap_s)
        self.failures += 1
        if failure.verdict is Verdict.RELOGIN and self.failures == 1:
            return 0.0
        bound = min(
            settings.backoff_cap_s, settings.backoff_base_s * 2 ** min(self.failures - 1, 62)
        )
        return random.uniform(0.0, bound) if settings.backoff_jitter else bound

    def _stop(self, state: RetryCallState) -> bool:
        if failure_of(state).verdict is Verdict.RATE_LIMITED:
            self.rate_limited_s += state.upcoming_sleep
            return self.rate_limited_s > self._settings.rate_limited_deadline_s
        return self.failures >= self._settings.max_attempts


def failure_of(state: RetryCallState) -> Retryable:
    assert state.outcome is not None
    failure = state.outcome.exception()
    assert isinstance(failure, Retryable)
    return failure


def retry_after_seconds(headers: Mapping[str, str], body: Any) -> float | None:
    """The wait a 429 asks for: the ``Retry-After`` header (seconds), else the body's
    ``retry_after`` (the original server sends only that); None when neither is usable."""
    in_body = body.get("retry_after") if isinstance(body, dict) else None
    for value in (headers.get("Retry-After"), in_body):
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                continue
        seconds = finite_number(value)
        if seconds is not None and seconds >= 0:
            return seconds
    return None
