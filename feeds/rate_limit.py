"""Pacing requests to the data APIs: a client-side rate limit, and retries with back-off.

* ``RateLimiter``: at most ``calls`` requests in any ``period`` seconds (a sliding window),
  shared by every thread that holds it. ``shared_limiter(name, ...)`` hands out one limiter
  per name for the whole process, so every Polygon call of a free-tier run (bars, chains,
  treasury yields, from any source object) counts against the same 5 requests a minute.
* ``call_with_retries``: tenacity around one request. The request function raises
  ``Transient`` for answers worth repeating (HTTP 429, 5xx, time-outs, dropped connections);
  the wait is the server's ``Retry-After`` when it sends one (seconds or an HTTP date),
  else an exponential back-off; when the attempts run out, the caller's ``give_up`` turns
  the last ``Transient`` into a clear ``ApiError`` that names the API and the limit.

Time comes from a ``Clock`` so tests run the free tier's minute-long waits instantly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol, TypeVar

import tenacity

from core.errors import DataError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Polygon's free tier: "a limit of 5 API requests per minute" (Polygon knowledge base)
POLYGON_FREE_CALLS, POLYGON_FREE_PERIOD = 5, 60.0


class Clock(Protocol):
    """Where waiting happens: the real clock, or a test clock that only advances."""

    def monotonic(self) -> float: ...
    def time(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class RateLimiter:
    """At most ``calls`` acquisitions in any window of ``period`` seconds (thread-safe)."""

    def __init__(self, calls: int, period: float, clock: Clock | None = None, name: str = ""):
        if calls < 1 or period <= 0:
            raise ValueError(f"rate limit needs calls >= 1 and period > 0, got {calls}/{period}")
        self.calls, self.period, self.name = calls, float(period), name
        self.clock = clock or SystemClock()
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()
        #: requests let through, and seconds spent waiting for the window, since creation
        self.acquired = 0
        self.waited = 0.0

    def acquire(self) -> float:
        """Wait until one more request fits in the window; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock.monotonic()
                while self._stamps and now - self._stamps[0] >= self.period:
                    self._stamps.popleft()
                if len(self._stamps) < self.calls:
                    self._stamps.append(now)
                    self.acquired += 1
                    self.waited += waited
                    return waited
                pause = self.period - (now - self._stamps[0])
            log.debug("%s: %s reached, waiting %.1f s", self.name or "rate limit",
                      self.describe(), pause)
            self.clock.sleep(pause)
            waited += pause

    def seconds_for(self, requests: int) -> float:
        """A lower bound of the time ``requests`` more requests take at this rate."""
        return max(requests - self.calls, 0) / self.calls * self.period

    def describe(self) -> str:
        return f"{self.calls} requests per {self.period:g} s"


_SHARED: dict[str, RateLimiter] = {}
_SHARED_LOCK = threading.Lock()


def shared_limiter(name: str, calls: int, period: float) -> RateLimiter:
    """The process-wide limiter called ``name`` (created on first use with this rate)."""
    with _SHARED_LOCK:
        limiter = _SHARED.get(name)
        if limiter is None or (limiter.calls, limiter.period) != (calls, float(period)):
            limiter = _SHARED[name] = RateLimiter(calls, period, name=name)
        return limiter


def polygon_free_limiter() -> RateLimiter:
    """The one limiter every Polygon request of a ``--free`` run goes through."""
    return shared_limiter("polygon-free", POLYGON_FREE_CALLS, POLYGON_FREE_PERIOD)


class ApiError(DataError):
    """A data API refused or failed a request; the message names the API and what to do.
    ``status`` is the HTTP status (None for time-outs and connection failures)."""

    def __init__(self, message: str, *, api: str, status: int | None = None):
        super().__init__(message)
        self.api, self.status = api, status


class Transient(Exception):
    """An answer worth asking again (429, 5xx, time-out); ``retry_after`` in seconds when
    the server said how long to wait."""

    def __init__(self, reason: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.reason, self.status, self.retry_after = reason, status, retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry one request."""

    #: tries in all, the first one included
    attempts: int = 4
    #: first wait (seconds) when the server gives no Retry-After; doubles each time
    backoff: float = 1.0
    #: the longest single wait; a server asking for longer (a daily quota, say) is not
    #: waited for: the request fails at once, saying how long the server asked
    max_wait: float = 65.0


#: statuses retried: rate limit, request timeout, and the server-side failures
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now, 0.0)


class _RetryAfterOrBackoff:
    """tenacity wait: the server's Retry-After when given, else exponential back-off."""

    def __init__(self, policy: RetryPolicy):
        self.policy = policy

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, Transient) and exc.retry_after is not None:
            return min(exc.retry_after, self.policy.max_wait)
        return min(self.policy.backoff * 2 ** (retry_state.attempt_number - 1),
                   self.policy.max_wait)


def call_with_retries(request: Callable[[], T], policy: RetryPolicy, clock: Clock,
                      give_up: Callable[[Transient, int], Exception],
                      say: Callable[[str], str] = str) -> T:
    """``request()``, repeated while it raises ``Transient`` (see module doc). A
    ``Retry-After`` longer than ``policy.max_wait`` ends the retries at once: waiting less
    than the server asked would only be refused again. Each retry is a debug line passed
    through ``say`` (the client's key masking: a server may echo the key in its error)."""
    def asks_too_long(retry_state: tenacity.RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        return (isinstance(exc, Transient) and exc.retry_after is not None
                and exc.retry_after > policy.max_wait)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(policy.attempts, 1)) | asks_too_long,
        wait=_RetryAfterOrBackoff(policy),
        retry=tenacity.retry_if_exception_type(Transient),
        sleep=clock.sleep,
        before_sleep=lambda retry_state: _log_retry(retry_state, say),
        reraise=True,
    )
    try:
        return retrying(request)
    except Transient as exc:
        raise give_up(exc, retrying.statistics.get("attempt_number", policy.attempts)) from None


def _log_retry(retry_state: tenacity.RetryCallState, say: Callable[[str], str]) -> None:
    """A debug line (shown with ``-v``) for each retry: why, and how long it waits."""
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
    status = getattr(exc, "status", None)
    reason = f"HTTP {status}: {exc}" if status else str(exc)
    log.debug("attempt %d failed (%s); retrying in %.1f s", retry_state.attempt_number,
              say(reason), wait)


def waited_as_told(exc: Transient, policy: RetryPolicy) -> str:
    """How the retries of a 429 waited, for the error that ends them."""
    if exc.retry_after is not None and exc.retry_after > policy.max_wait:
        return (f"the server asks to wait {exc.retry_after:.0f} s (Retry-After), longer than "
                f"this client waits ({policy.max_wait:g} s), so it stopped at once")
    return "Retry-After and back-off honoured"
