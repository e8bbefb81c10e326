"""One connection to TWS / IB Gateway through ib_async, on its own asyncio loop and thread.

backtrader is synchronous and ib_async is asyncio; a ``time.sleep`` in either would freeze
the other (orders stuck in PendingSubmit). So the store owns a private event loop on a
daemon thread and everything ib_async does happens there. The backtrader side talks to it
in two ways only:

* ``run(coro)`` / ``call(fn)``: run something on the loop and wait for its result (with a
  timeout), e.g. qualify contracts, place an order;
* listeners: callbacks invoked *on the loop thread* with plain, immutable snapshots
  (``OrderUpdate``, ``FillUpdate``, ``Sync``, ...) that the broker and feeds put into
  their own queues. Snapshots, not ib_async objects, because ib_async replaces its Trade
  objects on every reconnect and mutates them from the loop thread.

Reliability: a dropped socket starts a reconnect loop (tenacity, exponential backoff, the
same clientId, a first wait so TWS can release the id); error 326 (clientId in use) fails
the attempt at once instead of waiting for the connect timeout, and the backoff retries.
Every successful (re)connect emits a ``Sync`` snapshot (open orders, today's orders,
executions with commissions, positions, account values) for reconciliation and then
re-subscribes the bar feeds. 1100 (TWS lost IB) and 1101 (connectivity restored, data
lost) force the same full cycle (the store disconnects, reconnects with the same clientId,
re-syncs and re-subscribes); 1102 (restored, data kept) only re-syncs. Pacing errors (162)
on historical requests back off and retry. A TWS that hangs with its socket open sends
nothing and closes nothing, so no disconnect would ever fire: after ``stall_after`` seconds
without a byte from TWS the store asks for its time (``reqCurrentTime``), and no answer
within ``stall_timeout`` is treated as a dropped socket (the same reconnect cycle).

Requests the run cannot go on without (contract details, historical bars) that get no
answer in time, or lose the connection on the way, raise ``IBError`` naming the request
and what to check, so the command line says it in one ``error:`` line.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ib_async import IB, Contract, TradeLogEntry
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from brokers.ib_events import (
    AccountUpdate,
    CommissionUpdate,
    ErrorUpdate,
    LinkUpdate,
    Sync,
    fill_update,
    order_update,
    position_update,
)
from core.errors import DataError

log = logging.getLogger("btml.ib")


#: informational codes (farm status and the like): logged, never fatal
INFO_CODES = frozenset({2104, 2106, 2107, 2108, 2119, 2158, 2100, 2150, 10167})
WARNING_CODES = frozenset({2103, 2105, 2157, 2110, 399, 404, 434, 321, 110, 105, 165})
LINK_CODES = {1100: "lost", 1101: "restored, data lost", 1102: "restored, data kept"}
#: the states TWS names in a 10148 ("... cannot be cancelled, state: Submitted.") for an
#: order that goes on working
STILL_WORKING = frozenset({"PendingSubmit", "ApiPending", "PreSubmitted", "Submitted",
                           "PendingCancel"})
_REFUSED_STATE = re.compile(r"state:\s*(\w+)")


class _IBAsyncNoise(logging.Filter):
    """Drops ib_async's own lines about what the run already says in one line of its own:
    a refused or dropped connection (the ``error:`` line, or the store's "disconnected ...
    reconnecting"), TWS error codes the store, the broker or a request reports (a rejected
    or cancelled order is the broker's one line, not also ib_async's ERROR plus a
    multi-line ``Trade(...)`` dump; an unknown contract or a historical request that timed
    out is an ``IBError``), so the paper command keeps its one-line promise. TWS codes
    nobody here reports still pass; with -v (debug logging) everything is kept."""

    #: TWS codes reported elsewhere: history pacing (retried, then IBError), no contract
    #: (IBError), order rejected / cancelled (the broker's line), clientId in use (the
    #: connect error), connectivity (the store's warning), warnings the store logs
    REPORTED = frozenset({162, 200, 201, 202, 326, *LINK_CODES, *WARNING_CODES})
    PREFIXES = ("API connection failed", "Make sure API port on TWS/IBG is open",
                "Peer closed connection", "[Errno", "Canceled order:", "IBKR API validation warning:",
                "Unknown contract:", "reqHistoricalData: Timeout for")
    _CODE = re.compile(r"(?:Error|Warning) (\d+), reqId")

    def filter(self, record: logging.LogRecord) -> bool:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            return True
        text = str(record.getMessage())
        if text.startswith(self.PREFIXES):
            return False
        code = self._CODE.match(text)
        return not (code and int(code.group(1)) in self.REPORTED)


# a logger's filter sees only records logged on that very logger, not its children's
for _name in ("ib_async.client", "ib_async.wrapper", "ib_async.ib"):
    logging.getLogger(_name).addFilter(_IBAsyncNoise())


class IBError(DataError):
    """A problem talking to TWS/Gateway, with a message a trader can act on."""


class ClientIdInUse(IBError):
    """TWS answered 326: the clientId is still held (often by the socket that just dropped)."""


class HistoryTimeout(IBError):
    """IB sent no historical bars within the request timeout (ib_async hands back none)."""


@dataclass
class _Subscription:
    """A bar subscription the store re-creates after every reconnect."""

    start: Callable[[IB], Any]
    handle: Any = None
    stop: Callable[[IB, Any], None] | None = None


@dataclass
class StoreSettings:
    host: str = "127.0.0.1"
    port: int = 7497
    client_id: int = 1
    account: str = ""
    #: seconds for the connect handshake and the initial sync
    connect_timeout: float = 8.0
    #: seconds any other request may take
    request_timeout: float = 15.0
    #: first wait before reconnecting (TWS must notice the old socket is gone), doubling
    #: up to ``reconnect_max_delay``; ``reconnect_attempts`` 0 = keep trying
    reconnect_delay: float = 1.0
    reconnect_max_delay: float = 30.0
    reconnect_attempts: int = 0
    #: backoff base for error 162 (pacing) on historical data, and how often to retry
    pacing_delay: float = 15.0
    pacing_attempts: int = 4
    #: seconds without a byte from TWS before asking for its time (0: never ask), and
    #: seconds to wait for that answer before treating the connection as lost: a hung TWS
    #: keeps its socket open, so nothing else would notice
    stall_after: float = 30.0
    stall_timeout: float = 10.0
    #: seconds to wait for IB to confirm a cancel (None: the ``request_timeout``): the
    #: cancels of ``cancel_on_exit`` and that of a spread order unfilled after
    #: ``spread_order_bars``, one setting since both wait for the same answer; a slow link
    #: may need longer before an order is called working
    cancel_timeout: float | None = None

    #: (field, what it must be, whether 0 is allowed): the settings a command fills from
    #: flags, refused here so every command that builds a store refuses the same values
    RULES: ClassVar[tuple[tuple[str, str, bool], ...]] = (
        ("connect_timeout", "a number of seconds above 0", False),
        ("request_timeout", "a number of seconds above 0", False),
        ("stall_after", "a number of seconds, 0 or more (0: no stall watchdog)", True),
        ("stall_timeout", "a number of seconds above 0", False),
        ("cancel_timeout", "a number of seconds above 0", False))

    def __post_init__(self):
        """Refuse a duration the store cannot work with, naming the field as ``name=value``
        (the commands turn it into the flag): a negative or NaN ``stall_after`` would ask
        TWS for its time in a busy loop, a ``stall_timeout`` of 0 would call every TWS
        hung, an infinite one never would."""
        for name, must_be, zero_ok in self.RULES:
            value = getattr(self, name)
            if value is None and name == "cancel_timeout":
                continue
            if not (math.isfinite(value) and (value > 0 or (zero_ok and value == 0))):
                raise ValueError(f"{name}={value!r} is invalid: must be {must_be}")

    @property
    def cancel_wait(self) -> float:
        """Seconds to wait for IB to confirm a cancel (on exit, or of an expiring spread
        order)."""
        return self.request_timeout if self.cancel_timeout is None else self.cancel_timeout


class IBStore:
    """The connection; ``start()`` connects (or raises ``IBError``), ``stop()`` ends it."""

    def __init__(self, settings: StoreSettings | None = None, **kwargs):
        self.settings = settings or StoreSettings(**kwargs)
        self.ib: IB | None = None
        self.accounts: tuple[str, ...] = ()
        self.connected = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[Any], None]] = []
        self._subscriptions: list[_Subscription] = []
        self._stopping = False
        self._connecting = False
        self._reconnect_task: asyncio.Task | None = None
        self.reconnects = 0
        #: why reconnect attempts failed, oldest first (e.g. error 326)
        self.failures: list[str] = []
        #: the latest ``Sync`` (a listener added after connecting starts from it)
        self.last_sync: Sync | None = None
        #: times TWS stopped answering (no reply to reqCurrentTime) and was reconnected
        self.stalls = 0
        #: why reconnecting was given up (``reconnect_attempts`` spent); None while trying
        self.gave_up: str | None = None
        self._watchdog = None
        #: orders placed through this store, counted on the loop thread (a ``Sync``
        #: records how many it saw)
        self.placed = 0

    # ------------------------------------------------------------------ threads
    def start(self) -> IBStore:
        """Start the loop thread and connect; raises ``IBError`` when TWS cannot be reached."""
        if self._thread is None:
            ready = threading.Event()
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._run_loop, args=(ready,),
                                            name="ib-store", daemon=True)
            self._thread.start()
            ready.wait()
        s = self.settings
        try:
            self.run(self._connect(reconnect=False), timeout=s.connect_timeout + 5)
        except (OSError, TimeoutError, ConnectionError) as exc:
            self.stop()
            raise IBError(f"cannot connect to TWS/Gateway at {s.host}:{s.port} with clientId "
                          f"{s.client_id}: {exc!r}. Is TWS/Gateway running with the API "
                          f"enabled on that port?") from exc
        except IBError:
            self.stop()
            raise
        if s.stall_after > 0 and self._watchdog is None:
            self._watchdog = asyncio.run_coroutine_threadsafe(self._watch_stalls(),
                                                              self._loop)
        return self

    def _run_loop(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self.ib = IB()
        self.ib.disconnectedEvent += self._on_disconnected
        self.ib.errorEvent += self._on_error
        self.ib.orderStatusEvent += self._on_trade
        self.ib.openOrderEvent += self._on_trade
        self.ib.execDetailsEvent += self._on_exec
        self.ib.commissionReportEvent += self._on_commission
        self.ib.positionEvent += self._on_position
        self.ib.updatePortfolioEvent += self._on_portfolio
        self.ib.accountValueEvent += self._on_account_value
        _keep_early_commissions(self.ib.wrapper)
        _keep_refused_cancels_working(self.ib.wrapper)
        ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        """Disconnect and end the loop thread (open orders stay at IB)."""
        self._stopping = True
        if self._loop is None or self._thread is None:
            return
        if self._loop.is_running():
            with contextlib.suppress(Exception):
                self.run(self._shutdown(), timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._thread = None
        self._watchdog = None
        self.connected.clear()

    async def _shutdown(self) -> None:
        """Disconnect and end every task still on the loop (a request cut short by Ctrl-C,
        the reconnect loop, the stall watchdog): a task left pending when the loop stops is
        reported by asyncio as "Task was destroyed but it is pending!" at exit."""
        if self.ib is not None:
            self.ib.disconnect()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def run(self, coro, timeout: float | None = None):
        """Run ``coro`` on the store's loop; wait at most ``timeout`` seconds for it."""
        if self._loop is None:
            raise IBError("the IB store is not started")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout if timeout is not None
                                 else self.settings.request_timeout)
        except BaseException:  # a timeout, or Ctrl-C while waiting: nothing left running
            future.cancel()
            raise

    def ask(self, coro, what: str, timeout: float | None = None):
        """``run`` for a request the run cannot go on without: no answer within ``timeout``
        (default ``request_timeout``) or a connection lost on the way is an ``IBError``
        saying which request (``what``) and what to check, not a bare TimeoutError or
        ConnectionError traceback."""
        timeout = self.settings.request_timeout if timeout is None else timeout
        s = self.settings
        try:
            return self.run(coro, timeout=timeout)
        except TimeoutError as exc:
            raise IBError(f"TWS/Gateway at {s.host}:{s.port} sent no {what} within "
                          f"{timeout:g} s: check that it is logged in and connected to IB "
                          f"(its data farms)") from exc
        except ConnectionError as exc:
            raise IBError(f"the connection to TWS/Gateway at {s.host}:{s.port} was lost "
                          f"while asking for {what} ({exc}): check that TWS/Gateway is "
                          f"running, then start again") from exc

    def call(self, fn: Callable, *args, timeout: float | None = None):
        """Run the plain function ``fn(*args)`` on the loop thread and return its result."""
        async def wrapper():
            return fn(*args)
        return self.run(wrapper(), timeout=timeout)

    def add_listener(self, listener: Callable[[Any], None]) -> None:
        """``listener(update)`` is called on the loop thread; it must only enqueue."""
        self._listeners.append(listener)

    def _emit(self, update) -> None:
        for listener in list(self._listeners):
            try:
                listener(update)
            except Exception:  # a broken listener must not kill the connection
                log.exception("IB listener failed on %r", update)

    # ------------------------------------------------------------------ connecting
    async def _connect(self, reconnect: bool) -> None:
        s, ib = self.settings, self.ib
        loop = asyncio.get_running_loop()
        refused: asyncio.Future = loop.create_future()

        def on_error(req_id, code, message, contract):
            if code == 326 and not refused.done():
                refused.set_exception(ClientIdInUse(
                    f"clientId {s.client_id} is in use at {s.host}:{s.port} (error 326)"))

        def on_api_error(message):
            if not refused.done():
                refused.set_exception(ConnectionError(message))

        def on_socket_closed(message):
            if not refused.done():
                refused.set_exception(ConnectionError(
                    f"TWS/Gateway closed the socket during the handshake {message}".strip()))

        ib.errorEvent += on_error
        ib.client.apiError += on_api_error
        ib.client.conn.disconnected += on_socket_closed
        self._connecting = True
        task = asyncio.ensure_future(ib.connectAsync(
            s.host, s.port, s.client_id, timeout=s.connect_timeout, account=s.account,
            raiseSyncErrors=True))
        try:
            done, _ = await asyncio.wait({task, refused}, return_when=asyncio.FIRST_COMPLETED)
            if task not in done:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                refused.result()
            task.result()
        finally:
            self._connecting = False
            ib.errorEvent -= on_error
            ib.client.apiError -= on_api_error
            ib.client.conn.disconnected -= on_socket_closed
            if not refused.done():
                refused.cancel()
            elif not refused.cancelled():
                refused.exception()  # retrieved: the task's own error is the one raised
        self.accounts = tuple(ib.managedAccounts())
        self.connected.set()
        log.info("connected to %s:%s clientId %s, accounts %s", s.host, s.port, s.client_id,
                 ",".join(self.accounts))
        self._emit(LinkUpdate("connected"))
        self._emit(self._sync(reconnect))
        await self._resubscribe()

    def _sync(self, reconnect: bool) -> Sync:
        ib = self.ib
        trades = ib.trades()
        self.last_sync = Sync(
            reconnect=reconnect, accounts=tuple(ib.managedAccounts()),
            orders=tuple(order_update(t) for t in trades),
            open_order_refs=frozenset(t.order.orderRef for t in ib.openTrades()
                                      if t.order.orderRef),
            fills=tuple(fill_update(f) for f in ib.fills()),
            positions=tuple(position_update(p.account, p.contract, p.position, p.avgCost)
                            for p in ib.positions()),
            account_values=tuple(AccountUpdate(v.account, v.tag, v.value, v.currency)
                                 for v in ib.accountValues()),
            placed=self.placed)
        return self.last_sync

    def _on_disconnected(self) -> None:
        self.connected.clear()
        if self._stopping or self._connecting:
            return
        log.warning("disconnected from TWS/Gateway; reconnecting with clientId %s",
                    self.settings.client_id)
        self._emit(LinkUpdate("disconnected"))
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.ensure_future(self._reconnect())

    def _force_reconnect(self, code: int) -> None:
        if self._stopping or self._connecting or not self.ib.isConnected():
            return
        log.warning("IB error %d: disconnecting to reconnect and re-subscribe", code)
        self.ib.disconnect()  # disconnectedEvent -> _on_disconnected -> _reconnect

    async def _watch_stalls(self) -> None:
        """Notice a TWS that hangs with its socket open: no byte from it for
        ``stall_after`` seconds -> ask for its time; no answer within ``stall_timeout`` ->
        disconnect, which starts the reconnect cycle of a dropped socket (or, once
        ``reconnect_attempts`` are spent, ``gave_up``). Quiet markets are fine: TWS answers
        the question, and that answer is the proof of life."""
        s = self.settings
        while not self._stopping:
            heard = self.ib.wrapper.time  # time.time() of TWS's last packet, -1 before
            quiet = time.time() - heard if heard > 0 else 0.0
            if not self.connected.is_set() or self._connecting or quiet < s.stall_after:
                await asyncio.sleep(max(s.stall_after - quiet, 0.01))
                continue
            try:
                await asyncio.wait_for(self.ib.reqCurrentTimeAsync(), s.stall_timeout)
            except (TimeoutError, ConnectionError) as exc:
                if self._stopping or self._connecting or not self.ib.isConnected():
                    continue
                self.stalls += 1
                log.warning("TWS/Gateway stopped answering: nothing received for %.0f s and "
                            "no reply to reqCurrentTime within %g s (%r); reconnecting",
                            quiet, s.stall_timeout, exc)
                self.ib.disconnect()  # disconnectedEvent -> _on_disconnected -> _reconnect
            except Exception:  # the watchdog must outlive any surprise
                log.exception("the stall watchdog failed; it keeps watching")
                await asyncio.sleep(s.stall_after)

    async def _reconnect(self) -> None:
        s = self.settings
        await asyncio.sleep(s.reconnect_delay)  # let TWS release the clientId first
        stop = stop_after_attempt(s.reconnect_attempts) if s.reconnect_attempts else None
        retrying = AsyncRetrying(
            wait=wait_exponential(multiplier=s.reconnect_delay, max=s.reconnect_max_delay),
            retry=retry_if_exception_type((OSError, TimeoutError, ConnectionError, IBError)),
            reraise=True, **({"stop": stop} if stop else {}),
            before_sleep=self._failed_attempt)
        try:
            async for attempt in retrying:
                with attempt:
                    if self._stopping:
                        return
                    await self._connect(reconnect=True)
            self.reconnects += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("giving up reconnecting to TWS/Gateway: %r", exc)
            self.gave_up = (f"lost the connection to TWS/Gateway at {s.host}:{s.port} and "
                            f"gave up reconnecting after {s.reconnect_attempts} attempt(s) "
                            f"({exc!r}): check that TWS/Gateway is running with the API "
                            f"enabled, then start again")
            self._emit(LinkUpdate("gave_up"))

    def _failed_attempt(self, state) -> None:
        exc = state.outcome.exception()
        self.failures.append(repr(exc))
        log.warning("reconnect attempt %d failed: %r", state.attempt_number, exc)

    # ------------------------------------------------------------------ events -> snapshots
    def _on_error(self, req_id, code, message, contract) -> None:
        if code in LINK_CODES:
            log.warning("IB connectivity %s (%d): %s", LINK_CODES[code], code, message)
            self._emit(LinkUpdate(LINK_CODES[code], code))
            if code in (1100, 1101):
                # as after a dropped socket: reconnect (same clientId), re-sync, re-subscribe
                asyncio.get_running_loop().call_soon(self._force_reconnect, code)
            else:
                self._emit(self._sync(reconnect=True))
            return
        if code in INFO_CODES:
            log.info("IB notice %d: %s", code, message)
        elif code in WARNING_CODES:
            log.warning("IB warning %d (reqId %s): %s", code, req_id, message)
        self._emit(ErrorUpdate(req_id, code, message))

    def _on_trade(self, trade) -> None:
        self._emit(order_update(trade))

    def _on_exec(self, trade, fill) -> None:
        self._emit(fill_update(fill))

    def _on_commission(self, trade, fill, report) -> None:
        self._emit(CommissionUpdate(report.execId, report.commission, report.realizedPNL))

    def _on_position(self, position) -> None:
        self._emit(position_update(position.account, position.contract, position.position,
                                   position.avgCost))

    def _on_portfolio(self, item) -> None:
        self._emit(position_update(item.account, item.contract, item.position,
                                   item.averageCost, item.marketPrice))

    def _on_account_value(self, value) -> None:
        self._emit(AccountUpdate(value.account, value.tag, value.value, value.currency))

    # ------------------------------------------------------------------ requests
    def qualify(self, *contracts: Contract, missing_ok: bool = False) -> list[Contract | None]:
        """Qualify stock/option contracts (never a BAG); error 200 -> ``IBError`` naming it,
        or with ``missing_ok`` None in its place (a strike IB does not list for an expiry)."""
        for c in contracts:
            if c.secType == "BAG":
                raise IBError("a BAG combo is never qualified; qualify its legs")
        result = self.ask(self.ib.qualifyContractsAsync(*contracts),
                          "contract details for " + "; ".join(describe(c) for c in contracts))
        missing = [c for c, q in zip(contracts, result, strict=True) if q is None]
        if missing_ok:
            return list(result)
        if missing:
            raise IBError("IB has no (unique) contract for "
                          + "; ".join(describe(c) for c in missing)
                          + " (error 200 or ambiguous)")
        return list(result)

    def place(self, contract: Contract, order) -> tuple[int, int]:
        """Send ``order``; returns the orderId ib_async gave it and the order's number
        among those this store placed (``placed`` once it is sent: a ``Sync`` taken
        before it counted fewer)."""
        def place():
            order_id = self.ib.placeOrder(contract, order).order.orderId
            self.placed += 1
            return order_id, self.placed
        return self.call(place)

    def open_order_refs(self) -> set[str]:
        """orderRefs of the orders IB works for this clientId, as ib_async last heard
        (empty when the store is not running)."""
        if self._loop is None or not self._loop.is_running() or self.ib is None:
            return set()
        return self.call(lambda: {t.order.orderRef for t in self.ib.openTrades()
                                  if t.order.orderRef})

    def orders_known(self) -> concurrent.futures.Future:
        """Ask TWS which of this client's orders it knows (``reqOpenOrders`` and
        ``reqCompletedOrders``), without waiting: a future of ``(placed, refs)``, the
        orders this store had placed when it asked and the orderRefs TWS listed. TWS
        answers its socket's messages in order, so an order sent before the question and
        not in the answer never reached it (``IBBroker`` asks about orders it has not
        acknowledged). The listed orders' states come as order updates on the way."""
        async def ask() -> tuple[int, frozenset[str]]:
            placed = self.placed
            working = await self.ib.reqOpenOrdersAsync()
            ended = await self.ib.reqCompletedOrdersAsync(False)
            return placed, frozenset(t.order.orderRef for t in [*working, *ended]
                                     if t.order.orderRef)
        return asyncio.run_coroutine_threadsafe(
            asyncio.wait_for(ask(), self.settings.request_timeout), self._loop)

    def cancel_and_confirm(self, refs: list[str],
                           timeout: float | None = None) -> dict[str, str] | None:
        """Cancel our open orders ``refs`` (orderRefs) and wait at most ``timeout`` seconds
        (default ``StoreSettings.cancel_wait``) for IB to confirm each one. Returns each
        ref's last status from IB: 'Cancelled'/'ApiCancelled' (confirmed), 'Filled' (the fill won),
        'PendingCancel' or another open state (not confirmed in time), 'NotOpen' (IB lists
        no such open order); None when not connected (nothing could be cancelled, so every
        one of them may still be working)."""
        timeout = self.settings.cancel_wait if timeout is None else timeout
        wanted = set(refs)

        async def cancel() -> dict[str, str] | None:
            ib, loop = self.ib, asyncio.get_running_loop()
            if not (self.connected.is_set() and ib.isConnected()):
                return None
            trades = {t.order.orderRef: t for t in ib.openTrades()
                      if t.order.orderRef in wanted}
            changed = asyncio.Event()

            def wake(*_) -> None:
                changed.set()

            ib.orderStatusEvent += wake
            ib.disconnectedEvent += wake
            try:
                for trade in trades.values():
                    ib.cancelOrder(trade.order)
                deadline = loop.time() + timeout
                while ib.isConnected() and not all(t.isDone() for t in trades.values()):
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    changed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), left)
            finally:
                ib.orderStatusEvent -= wake
                ib.disconnectedEvent -= wake
            return {ref: trades[ref].orderStatus.status if ref in trades else "NotOpen"
                    for ref in refs}

        try:
            return self.run(cancel(), timeout=timeout + 5)
        except ConnectionError:  # the socket went while sending the cancels
            return None

    def cancel(self, order_ref: str = "", perm_id: int = 0, order_id: int = 0) -> bool:
        """Cancel our open order found by orderRef/permId/orderId; False if not open."""
        def cancel():
            for trade in self.ib.openTrades():
                o = trade.order
                if (order_ref and o.orderRef == order_ref) or (perm_id and o.permId == perm_id) \
                        or (order_id and o.orderId == order_id):
                    self.ib.cancelOrder(o)
                    return True
            return False
        return self.call(cancel)

    def option_chain(self, symbol: str, under_con_id: int) -> tuple[list[str], list[float]]:
        """Expirations (YYYYMMDD) and strikes of the SMART row of reqSecDefOptParams."""
        async def chain():
            return await asyncio.wait_for(self.ib.reqSecDefOptParamsAsync(
                symbol, "", "STK", under_con_id), self.settings.request_timeout)
        rows = self.run(chain())
        smart = [r for r in rows if r.exchange == "SMART" and r.tradingClass == symbol] or rows
        if not smart:
            raise IBError(f"IB lists no options for {symbol} (conId {under_con_id})")
        return sorted(set(smart[0].expirations)), sorted(set(smart[0].strikes))

    def snapshots(self, contracts: list[Contract]) -> list[dict]:
        """bid/ask/model greeks of qualified contracts (one snapshot each)."""
        async def snap():
            return await asyncio.wait_for(self.ib.reqTickersAsync(*contracts),
                                          self.settings.request_timeout)
        out = []
        for t in self.run(snap(), timeout=self.settings.request_timeout + 2):
            g = t.modelGreeks
            out.append({"bid": _num(t.bid), "ask": _num(t.ask), "last": _num(t.last),
                        "delta": g.delta if g else None, "iv": g.impliedVol if g else None,
                        "underlying": g.undPrice if g else None})
        return out

    def fill_commissions(self, exec_ids: set[str]) -> dict[str, CommissionUpdate]:
        """Commission reports that arrived for ``exec_ids`` (also those no event announced:
        executions replayed by reqExecutions after a reconnect fire no events)."""
        def read():
            out = {}
            for fill in self.ib.fills():
                r = fill.commissionReport
                if fill.execution.execId in exec_ids and r.execId:
                    out[r.execId] = CommissionUpdate(r.execId, r.commission, r.realizedPNL)
            return out
        return self.call(read)

    def historical_bars(self, contract: Contract, duration: str, bar_size: str,
                        what: str = "TRADES", use_rth: bool = True, end="") -> list:
        """Completed historical bars (of ``duration`` up to ``end``: a datetime, or ""
        for now); error 162 (pacing / no data) backs off and retries."""
        s = self.settings
        wait = s.request_timeout * s.pacing_attempts + s.pacing_delay * 2 ** s.pacing_attempts
        return self.ask(self.fetch_history(contract, duration, bar_size, what, use_rth, end),
                        f"historical data for {describe(contract)}", timeout=wait)

    async def fetch_history(self, contract: Contract, duration: str, bar_size: str,
                            what: str = "TRADES", use_rth: bool = True, end="") -> list:
        """``historical_bars`` on the store's loop (for feeds catching up after a
        reconnect); raises ``IBError`` after ``pacing_attempts`` answers of error 162, and
        ``HistoryTimeout`` when IB sent nothing within ``request_timeout`` (ib_async then
        returns no bars, as if IB had none: only the time taken tells them apart)."""
        s = self.settings
        loop = asyncio.get_running_loop()
        errors: list[int] = []

        def on_error(req_id, code, message, c):
            if code == 162:
                errors.append(code)

        self.ib.errorEvent += on_error
        try:
            async for attempt in AsyncRetrying(
                    wait=wait_exponential(multiplier=s.pacing_delay, max=600),
                    stop=stop_after_attempt(s.pacing_attempts),
                    retry=retry_if_exception_type(_Paced), reraise=True):
                with attempt:
                    errors.clear()
                    asked = loop.time()
                    bars = await self.ib.reqHistoricalDataAsync(
                        contract, end, duration, bar_size, what, use_rth,
                        timeout=s.request_timeout)
                    if not bars and errors:
                        raise _Paced()
                    if not bars and loop.time() - asked >= 0.99 * s.request_timeout:
                        raise HistoryTimeout(
                            f"IB sent no historical data for {describe(contract)} ({duration} "
                            f"of {bar_size} {what} bars) within {s.request_timeout:g} s: check "
                            "its market data permissions and that TWS/Gateway's historical "
                            "data farm (HMDS) is connected")
                    return list(bars)
        except _Paced as exc:
            raise IBError(f"historical data for {describe(contract)} refused "
                          f"{s.pacing_attempts} times with error 162 (pacing or no data)"
                          ) from exc
        finally:
            self.ib.errorEvent -= on_error
        return []

    def subscribe(self, start: Callable[[IB], Any],
                  stop: Callable[[IB, Any], None] | None = None) -> _Subscription:
        """Run ``start(ib)`` on the loop now and after every reconnect (it returns a handle
        that ``stop(ib, handle)`` cancels)."""
        sub = _Subscription(start, stop=stop)
        self._subscriptions.append(sub)
        if self.connected.is_set():
            self.call(lambda: setattr(sub, "handle", start(self.ib)))
        return sub

    def unsubscribe(self, sub: _Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)
        if sub.stop is not None and sub.handle is not None and self.connected.is_set():
            with contextlib.suppress(Exception):
                self.call(sub.stop, self.ib, sub.handle)

    async def _resubscribe(self) -> None:
        for sub in list(self._subscriptions):
            try:
                sub.handle = sub.start(self.ib)
            except Exception:
                log.exception("re-subscribing bars failed")


def _keep_early_commissions(wrapper) -> None:
    """Make ib_async's ``wrapper`` keep a commission report that comes before its
    execution and apply it when the execution arrives. ib_async looks the execution up by
    execId and silently drops a report it cannot find, so the fill would wait for a
    commission that already came (until a reconnect replayed it). IB documents the report
    after the execution; this keeps the broker right if TWS ever sends them the other way."""
    apply_report, apply_execution = wrapper.commissionReport, wrapper.execDetails
    early: dict[str, Any] = {}

    def commission_report(report) -> None:
        if report.execId not in wrapper.fills:
            early[report.execId] = report
            if len(early) > 1000:  # reports of executions this client never gets
                early.pop(next(iter(early)))
            return
        apply_report(report)

    def exec_details(req_id, contract, execution) -> None:
        apply_execution(req_id, contract, execution)
        report = early.pop(execution.execId, None)
        if report is not None:
            apply_report(report)

    wrapper.commissionReport, wrapper.execDetails = commission_report, exec_details


def _keep_refused_cancels_working(wrapper) -> None:
    """Make ib_async's ``wrapper`` keep an order working when TWS refuses to cancel it
    with error 10148 naming a working state ("OrderId N that needs to be cancelled cannot
    be cancelled, state: Submitted", PreSubmitted, or PendingCancel for a cancel already
    pending). ib_async 2.1.0 ends the trade as Cancelled on any 10148, so: ``openTrades``
    leaves it out and a later cancel of ours (the strategy's, an expiring spread's,
    ``--cancel-on-exit``'s) was never sent, ``cancel_and_confirm`` counted the refusal as
    a confirmed cancel, and TWS's own later end of the order (orderStatus Cancelled, 202)
    changed nothing ib_async held, so nobody heard it. Here the trade takes the state TWS
    named instead, with the error in its log (the ledger says the refusal), and the
    error event goes out as usual. Any other 10148 (state Filled, Cancelled: it did end)
    is left to ib_async; the order's own reports say how it ended."""
    report_error = wrapper.error

    def error(req_id: int, code: int, message: str, *rest) -> None:
        match = _REFUSED_STATE.search(message) if code == 10148 else None
        state = match.group(1) if match else ""
        trade = wrapper.trades.get((wrapper.clientId, req_id)) if state else None
        if state not in STILL_WORKING or trade is None or trade.isDone():
            report_error(req_id, code, message, *rest)
            return
        log.info("IB refused to cancel orderId %s, still %s at TWS (%d): %s", req_id,
                 state, code, message)
        trade.orderStatus.status = state
        trade.log.append(TradeLogEntry(wrapper.lastTime, state,
                                       f"Error {code}, reqId {req_id}: {message}", code))
        wrapper.ib.orderStatusEvent.emit(trade)
        trade.statusEvent.emit(trade)
        wrapper.ib.errorEvent.emit(req_id, code, message, None)

    wrapper.error = error


class _Paced(Exception):
    """Historical request answered by error 162: back off and retry."""


def _num(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def describe(contract: Contract) -> str:
    """A contract in words for error messages (``SPY STK``, ``SPY 20240119 470 P OPT``)."""
    parts = [contract.symbol or f"conId {contract.conId}"]
    if contract.secType == "OPT":
        parts += [contract.lastTradeDateOrContractMonth, f"{contract.strike:g}", contract.right]
    parts.append(contract.secType or "?")
    return " ".join(p for p in parts if p)
