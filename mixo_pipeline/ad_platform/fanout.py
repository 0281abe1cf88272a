"""Run one function over a lazily produced stream of items on a few threads, results as they
come: the items are consumed on a feeder thread, so a listing still in progress can feed them."""

import queue
import threading
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def fan_out(work: Callable[[T], R], items: Iterable[T], workers: int) -> Generator[R, None, None]:
    """``work(item)`` for every item, ``workers`` at a time, yielded in completion order. An
    exception from ``work`` cancels what has not started and is raised once the running work has
    ended (none outlives the call); one from ``items`` once all started work is yielded."""
    results: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
    stop = threading.Event()
    pool = ThreadPoolExecutor(workers, "fan-out")

    def run(item: T) -> None:
        try:
            results.put(("result", work(item)))
        except BaseException as exc:  # re-raised by the consuming thread
            results.put(("crash", exc))

    def feed() -> None:
        submitted, error = 0, None
        try:
            for item in items:
                if stop.is_set():
                    break
                pool.submit(run, item)
                submitted += 1
        except BaseException as exc:  # re-raised by the consuming thread
            error = exc
        results.put(("fed", (submitted, error)))

    threading.Thread(target=feed, name="fan-out-feed", daemon=True).start()
    received, expected, feed_error = 0, None, None
    try:
        while expected is None or received < expected:
            kind, value = results.get()
            if kind == "fed":
                expected, feed_error = value
            elif kind == "crash":
                raise value
            else:
                received += 1
                yield value
        if feed_error is not None:
            raise feed_error
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
