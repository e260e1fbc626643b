"""Slowing down key guessing: a small token bucket of authentication failures per client address.

Each failed check (missing or wrong key) takes one token from the client's
bucket; the bucket refills at ``per_second`` up to ``burst``. While it is empty
that client's requests get 429 with ``Retry-After`` before any key is checked,
so a guesser gets a handful of tries and then one every few seconds. A client
that sends a valid key never spends tokens. The table of clients is bounded
(the least recently failing client is forgotten first).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

DEFAULT_BURST = 20
DEFAULT_PER_SECOND = 0.5
DEFAULT_MAX_CLIENTS = 10_000


class AuthThrottle:
    """Per-client budget of authentication failures.

    >>> throttle = AuthThrottle(burst=2, per_second=1.0, clock=lambda: 0.0)
    >>> throttle.failed("10.0.0.1"); throttle.failed("10.0.0.1")
    >>> throttle.retry_after("10.0.0.1")
    1
    >>> throttle.retry_after("10.0.0.2")
    0
    """

    def __init__(
        self,
        *,
        burst: int = DEFAULT_BURST,
        per_second: float = DEFAULT_PER_SECOND,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1 or per_second <= 0 or max_clients < 1:
            raise ValueError("burst and max_clients must be >= 1 and per_second > 0")
        self.burst, self.per_second, self.max_clients = burst, per_second, max_clients
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)

    def _tokens(self, client: str, now: float) -> float:
        tokens, at = self._buckets.get(client, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) * self.per_second)

    def retry_after(self, client: str) -> int:
        """Seconds the client must wait before its next attempt (0: go ahead)."""
        with self._lock:
            if client not in self._buckets:
                return 0
            tokens = self._tokens(client, self._clock())
        return 0 if tokens >= 1 else max(1, math.ceil((1 - tokens) / self.per_second))

    def failed(self, client: str) -> None:
        """Count one failed authentication from ``client``."""
        with self._lock:
            now = self._clock()
            tokens = self._tokens(client, now)
            self._buckets[client] = (max(0.0, tokens - 1), now)
            self._buckets.move_to_end(client)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
