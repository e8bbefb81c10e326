"""The official Polygon client (``massive``), with every HTTP request it makes paced,
counted, retried and checked here.

``massive.RESTClient`` builds the URLs, query parameters, the ``Authorization: Bearer``
header, follows ``next_url`` pages and turns JSON into its models; we keep all of that.
What it does not do the way a backtest needs: it retries 429/5xx inside urllib3 (past any
client-side rate limit, and ending in a bare ``MaxRetryError``), it reports 401/403/404 as a
``BadResponse`` holding only the body, and it answers a 200 whose body is not JSON with an
empty list (a silent hole in the data). So the client's urllib3 pool is wrapped by
``PolygonTransport``: its own urllib3 retries are switched off, and each request

1. waits for the rate limiter (the free tier's 5 a minute, shared process-wide),
2. is retried by tenacity on 429 (honouring ``Retry-After``), 5xx and time-outs,
3. ends in an ``ApiError`` naming Polygon, the request path, the server's message and what
   to do (bad key, plan not entitled, unknown symbol, rate limit), never the key itself,
4. must carry a JSON object when it succeeds (``results``, when there, a list of objects
   or one object).
"""

from __future__ import annotations

import json
import logging
import os
from urllib.parse import urlencode, urlsplit

import urllib3

from feeds.rate_limit import (
    RETRY_STATUSES,
    ApiError,
    Clock,
    RateLimiter,
    RetryPolicy,
    SystemClock,
    Transient,
    call_with_retries,
    parse_retry_after,
    waited_as_told,
)
from feeds.secrets import redact

log = logging.getLogger(__name__)

API = "Polygon"
BASE_ENV = "POLYGON_API_BASE"
DEFAULT_BASE = "https://api.massive.com"
KEY_HINT = "POLYGON_API_KEY (or MASSIVE_API_KEY) in the environment or .env"


def polygon_base(env=None) -> str:
    """``$POLYGON_API_BASE`` without a trailing slash, else Massive's own default."""
    env = os.environ if env is None else env
    return (env.get(BASE_ENV) or DEFAULT_BASE).rstrip("/")


def server_message(body: bytes, limit: int = 200) -> str:
    """The ``error`` or ``message`` field of an error body, else its first characters."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for field in ("error", "message"):
            if isinstance(data.get(field), str):
                return data[field][:limit]
    elif isinstance(data, str):
        return data[:limit]
    return " ".join(text.split())[:limit] or "(empty body)"


def _shape_problem(body) -> str | None:
    """What is wrong with a 200's JSON for the client to read, or None. Every endpoint
    this project asks answers an object whose ``results``, when there, is a list of
    objects (or one object); anything else would crash inside the client's models."""
    if not isinstance(body, dict):
        return f"JSON {type(body).__name__} where an object belongs"
    results = body.get("results")
    if results is None or isinstance(results, dict):
        return None
    if not isinstance(results, list):
        return f"'results' of type {type(results).__name__}, not a list"
    if not all(isinstance(row, dict) for row in results):
        return "'results' holding something other than objects"
    return None


class PolygonTransport:
    """Stands in for the official client's urllib3 pool (see the module doc)."""

    def __init__(self, pool: urllib3.PoolManager, *, api_key: str,
                 limiter: RateLimiter | None = None, policy: RetryPolicy | None = None,
                 clock: Clock | None = None, timeout: float = 10.0):
        self.pool = pool
        self.limiter = limiter
        self.policy = policy or RetryPolicy()
        self.clock = clock or SystemClock()
        self.timeout = timeout
        self._secrets = (api_key,)
        #: HTTP requests sent (retries and pages included)
        self.requests = 0

    def _where(self, method: str, url: str, fields) -> str:
        parts = urlsplit(url)
        query = parts.query or (urlencode(fields) if fields else "")
        return redact(f"{method} {parts.path}" + (f"?{query}" if query else ""), self._secrets)

    def _say(self, text: str) -> str:
        return redact(text, self._secrets)

    def request(self, method: str, url: str, fields=None, headers=None, **kwargs):
        """What ``massive`` calls for every request; returns the urllib3 response of a 200."""
        where = self._where(method, url, fields)

        def attempt():
            if self.limiter is not None:
                self.limiter.acquire()
            self.requests += 1
            log.debug("%s %s", API, where)
            try:
                response = self.pool.request(method, url, fields=fields, headers=headers,
                                             **kwargs)
            except urllib3.exceptions.NewConnectionError as exc:  # refused, no such host:
                # urllib3 files these under its TimeoutError, but nothing timed out
                raise Transient(f"connection failed ({type(exc).__name__}: the host does "
                                "not resolve or nothing listens there)") from exc
            except urllib3.exceptions.TimeoutError as exc:
                raise Transient(f"no answer within {self.timeout:g} s") from exc
            except urllib3.exceptions.HTTPError as exc:
                raise Transient(f"connection failed ({type(exc).__name__})") from exc
            if response.status in RETRY_STATUSES:
                raise Transient(server_message(response.data), response.status,
                                parse_retry_after(response.headers.get("Retry-After"),
                                                  self.clock.time()))
            return response

        def give_up(exc: Transient, attempts: int) -> ApiError:
            return self._gave_up(exc, attempts, where)

        response = call_with_retries(attempt, self.policy, self.clock, give_up, self._say)
        if response.status != 200:
            raise self._refused(response.status, server_message(response.data), where)
        try:
            body = json.loads(response.data)
        except ValueError:
            raise ApiError(self._say(
                f"{API} answered {where} with a body that is not JSON "
                f"({server_message(response.data, 80)!r}); the data was not used"),
                api=API, status=200) from None
        shape = _shape_problem(body)
        if shape is not None:
            raise ApiError(self._say(f"{API} answered {where} with {shape} "
                                     f"({server_message(response.data, 80)!r}); the data was "
                                     "not used"), api=API, status=200)
        if body.get("status") == "ERROR":
            raise ApiError(self._say(f"{API} reported an error for {where}: "
                                     f"{server_message(response.data)}"), api=API, status=200)
        return response

    def _gave_up(self, exc: Transient, attempts: int, where: str) -> ApiError:
        tried = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
        if exc.status == 429:
            text = (f"{API} rate limit: HTTP 429 on {where} {tried} "
                    f"({waited_as_told(exc, self.policy)}): {exc.reason}. The free tier "
                    "allows 5 requests per minute: run "
                    "with --free to pace requests under it, or wait and run again (what was "
                    "fetched is cached)")
        elif exc.status is not None:
            text = (f"{API} server error HTTP {exc.status} on {where} {tried}: {exc.reason}; "
                    "try again later (what was fetched is cached)")
        else:
            text = (f"{API} request failed: {where}: {exc.reason} {tried}; check "
                    f"{BASE_ENV} and the network")
        return ApiError(self._say(text), api=API, status=exc.status)

    def _refused(self, status: int, message: str, where: str) -> ApiError:
        if status == 401:
            text = (f"{API} refused the API key (HTTP 401: {message}) on {where}: check "
                    f"{KEY_HINT}")
        elif status == 403:
            text = (f"{API}: the plan of this API key is not entitled to {where} (HTTP 403: "
                    f"{message}); upgrade the plan or ask for data it covers (the free tier "
                    "has about 2 years of daily history)")
        elif status == 404:
            text = f"{API} has no data at {where} (HTTP 404: {message}): unknown symbol?"
        else:
            text = f"{API} rejected {where} (HTTP {status}: {message})"
        return ApiError(self._say(text), api=API, status=status)


def make_client(api_key: str, *, base: str | None = None, limiter: RateLimiter | None = None,
                policy: RetryPolicy | None = None, clock: Clock | None = None,
                timeout: float = 10.0):
    """A ``massive.RESTClient`` for ``base`` whose requests all go through one
    ``PolygonTransport`` (returned as ``client.transport``)."""
    from massive import RESTClient

    if not api_key:
        raise ApiError(f"{API} needs an API key: set {KEY_HINT}", api=API)
    client = RESTClient(api_key=api_key, base=base or polygon_base(), connect_timeout=timeout,
                        read_timeout=timeout, retries=0,
                        connection_pool_kw={"retries": False})
    transport = PolygonTransport(client.client, api_key=api_key, limiter=limiter,
                                 policy=policy, clock=clock, timeout=timeout)
    client.client = transport
    client.vx.client = transport
    client.transport = transport
    return client
