"""Keep the garbage collector from stopping a run worker while its requests are being timed.

A permit is stamped just before its request is sent, and the platform counts the request when
it arrives; anything that stops the process between the two moves the request later in the
platform's window than in ours. CPython's full (generation 2) collection stops every thread of
the process while it traverses every tracked object.

Measured with ``gc.callbacks`` in the 100-account benchmark at time scale 0.25 (two run
workers of 50 accounts each):

- Full collections took 190-380 ms, traversing mostly Dagster, pandas and the code location:
  loaded once, never garbage. Each delayed the requests permitted just before it past the 0.1 s
  margin; one window later their successors, sent on time, arrived inside the platform's window.
  All seven 429s of that run came one window after a worker's full collection.
- With that start-up heap frozen (``gc.freeze()``), full collections still came every few
  seconds, because the frozen heap no longer counts towards the "25% of the old generation"
  rule that spaces them out, and took 50-165 ms over what the sync itself keeps alive. The two
  429s of that run came one window after a 105 ms one.

So during the accounts' work the start-up heap is frozen and full collections wait until the
work is done; generations 0 and 1, where short-lived cycles (a failed request's exception and
its traceback) are reclaimed, keep running. On exit the frozen objects are handed back and the
thresholds restored, so a long-lived process (a test session, an executor running many steps in
one process) collects everything as before.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_NO_FULL_COLLECTION = 1_000_000
"""Generation-1 collections before a full one: more than any sync step performs."""

_lock = threading.Lock()
_depth = 0
_saved_thresholds: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def full_collections_deferred() -> Iterator[None]:
    """No full collection, and a frozen start-up heap, until the outermost block exits."""
    global _depth, _saved_thresholds
    with _lock:
        _depth += 1
        if _depth == 1:
            _saved_thresholds = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(*_saved_thresholds[:2], _NO_FULL_COLLECTION)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.set_threshold(*_saved_thresholds)
                gc.unfreeze()
