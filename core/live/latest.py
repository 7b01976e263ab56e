"""A one-item hand-off between threads where the newest item wins: latency over throughput."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Latest(Generic[T]):
    """``put`` replaces whatever the reader has not taken yet (counted in ``dropped``); ``take`` waits."""

    def __init__(self):
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self.dropped = 0

    def put(self, item: T) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify_all()

    def take(self, timeout: float | None = None) -> T | None:
        """The newest item, waiting up to ``timeout``; None on timeout or once closed and empty."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            self._cond.notify_all()
            return item

    def wait_taken(self, timeout: float | None = None) -> bool:
        """Wait until the reader has taken the item (or the hand-off closed); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._item is None or self._closed, timeout)

    def close(self) -> None:
        """Wake the reader for good: no more items will come."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
