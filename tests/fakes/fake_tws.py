"""A fake TWS on 127.0.0.1 that the real ib_async client connects to over a socket.

It speaks the TWS text protocol (``fake_tws_wire``): handshake with version negotiation,
startApi, managed accounts, nextValidId, positions, account updates, open and completed
orders, executions with commission reports, contract details for STK and OPT, option chain
parameters, option snapshots with model greeks, placeOrder for STK and BAG, cancelOrder,
historical bars (with keepUpToDate updates), 5-second real-time bars and error messages.

Tests script it per scenario: ``order_mode`` says what happens to a new order ('fill',
'hold', 'reject', 'partial', 'next_bar_open', 'silent': kept but not answered yet, as
while TWS's reply is still in flight, or 'lost': read but never kept nor answered), ``fill``/``reject``/``cancel_by_server`` act on
an order explicitly (also while no client is connected), ``drop_connections`` closes every
socket (optionally keeping the clientId busy, so reconnecting gets error 326), ``paused``
makes TWS refuse connections, ``expire_options`` cash-settles an expiry,
``settle_physically`` settles one with delivered shares (assignment/exercise),
``send_error`` sends e.g. 1100/1101/1102, ``cancel_refusals`` refuses cancels of working
orders (10148), ``hold_commissions`` keeps commission reports
back until ``release_commissions`` (TWS sends them after the order status) and
``commission_first`` sends them before their executions, ``history_errors``
answers historical requests with e.g. 162, and ``push_bar`` streams a bar to subscribers. Everything received is recorded
(``received``, ``orders``), and ``wait_until`` waits on a condition, never on a clock.

It misbehaves on purpose, as a TWS in trouble does: ``ignore`` names requests it never
answers ('history', 'contract_details', 'current_time', 'cancel_order',
'open_orders'), ``drop_on`` requests on whose
arrival it closes every socket (a connection lost mid-request), and ``freeze()`` makes it
stop sending anything to the clients connected now while their sockets stay open (a hung
TWS); a client that connects afterwards is served normally.

Time is spoken as a real TWS speaks it (``shared/IB_PROTOCOL.md``, historicalData):
historical intraday bars and keepUpToDate updates as ``YYYYMMDD HH:MM:SS US/Eastern``
(New York wall-clock time), daily bars as ``YYYYMMDD``, real-time bars as epoch seconds.
The fake's clock (``now()``) follows the bars it streams, so executions are stamped at the
bar they happen on; before the first bar it is the real time.
"""

from __future__ import annotations

import datetime as dt
import itertools
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

from tests.fakes import fake_tws_wire as wire
from tests.fakes.fake_tws_wire import BAG_CON_ID, Contract, Encoder, Leg

MAX_SERVER_VERSION = 176
NEW_YORK = ZoneInfo("America/New_York")

#: how long a test waits for the code under test by default: long, for a loaded machine
#: (CI beside other jobs); every wait ends as soon as its condition holds, so a passing
#: test never waits it out
WAIT = 30.0


def ib_time(when: dt.datetime) -> str:
    """An instant as TWS writes intraday bar and execution times: New York wall-clock
    time with the zone's name."""
    if when.tzinfo is None:
        raise ValueError(f"naive time {when}: give the fake TWS an aware datetime")
    return f"{when.astimezone(NEW_YORK):%Y%m%d %H:%M:%S} US/Eastern"


def ib_bar_date(date) -> str:
    """A historical bar's date field: ``YYYYMMDD`` for a date, the zoned form for an aware
    datetime; text is passed on when it says its zone (or is a bare date or epoch)."""
    if isinstance(date, dt.datetime):
        return ib_time(date)
    if isinstance(date, dt.date):
        return f"{date:%Y%m%d}"
    text = str(date)
    if len(text) != 8 and not text.isdigit() and text.count(" ") < 2:
        raise ValueError(f"bar date {text!r} names no time zone; real TWS sends "
                         f"'YYYYMMDD HH:MM:SS US/Eastern'")
    return text


@dataclass
class ServerOrder:
    order_id: int
    client_id: int
    perm_id: int
    contract: Contract
    action: str
    quantity: float
    order_type: str
    limit: float | None
    aux: float | None
    tif: str
    account: str
    order_ref: str
    legs: list[Leg] = field(default_factory=list)
    smart_combo_params: list = field(default_factory=list)
    status: str = "Submitted"
    filled: float = 0.0
    avg_price: float = 0.0
    last_price: float = 0.0

    @property
    def remaining(self) -> float:
        return self.quantity - self.filled

    @property
    def is_open(self) -> bool:
        return self.status in ("PreSubmitted", "Submitted")


@dataclass
class ServerExecution:
    exec_id: str
    order_id: int
    client_id: int
    perm_id: int
    contract: Contract
    side: str
    shares: float
    price: float
    cum_qty: float
    avg_price: float
    order_ref: str
    time: str
    account: str
    commission: float | None
    realized: float | None = None


@dataclass
class OptionQuote:
    """One option's market in the fake: cent bid/ask, greeks and the market's own mark.

    ``mark`` is the price TWS reports for a held option (portfolioValue's marketPrice,
    which NetLiquidation adds up). A real TWS reports its own mark price there, not the
    midpoint of the cent quotes; a quote from the sample market's chain carries the
    chain's model value (its ``mid``), the price the simulated broker marks open spreads
    at. Without one the fake falls back to the quote midpoint."""

    bid: float
    ask: float
    delta: float
    iv: float
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0
    underlying: float = 0.0
    mark: float | None = None

    @property
    def mid(self) -> float:
        return 0.5 * (self.bid + self.ask)

    @property
    def market_price(self) -> float:
        """What TWS reports a held contract at: ``mark`` when given, else the midpoint."""
        return self.mid if self.mark is None else self.mark


class _Conn:
    """One client socket: its clientId, its subscriptions, a lock for whole-message writes."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.client_id: int | None = None
        self.encoder: Encoder | None = None
        self.send_lock = threading.Lock()
        self.account_updates = False
        self.positions = False
        self.realtime: dict[int, str] = {}
        #: keepUpToDate requests whose bar size is a day or more (dated YYYYMMDD)
        self.daily_keep_up: set[int] = set()
        #: contracts in the last portfolio push (a vanished one gets a position-0 row)
        self.portfolio: dict[int, Contract] = {}
        self.keep_up: dict[int, str] = {}
        self.alive = True
        #: a hung TWS: the socket stays open, nothing more is sent on it
        self.frozen = False

    def send(self, *messages: bytes) -> None:
        if not self.alive or self.frozen:
            return
        with self.send_lock:
            try:
                self.sock.sendall(b"".join(messages))
            except OSError:
                self.alive = False


class FakeTWS:
    """The server; ``with FakeTWS() as tws:`` listens on ``tws.port`` until the block ends."""

    def __init__(self, server_version: int = MAX_SERVER_VERSION,
                 accounts: tuple[str, ...] = ("DU1234567",), cash: float = 100_000.0,
                 stock_commission: Callable[[float, float], float] | None = None,
                 option_commission: float = 0.65, first_order_id: int = 1):
        self.server_version = server_version
        self.accounts = list(accounts)
        self.cash = cash
        #: the account's base currency and IB's ExchangeRate of USD in it (base units per
        #: USD; None: not reported). The fake's cash stays in USD (its fills are USD); a
        #: non-USD base reports the account values as a real such account does
        #: (``_account_values``)
        self.base_currency = "USD"
        self.usd_rate: float | None = 1.0
        self.stock_commission = stock_commission or (lambda shares, price: 1.0)
        self.option_commission = option_commission
        self.order_mode: str | Callable = "fill"
        #: while True, fills send no commission report: they wait in ``held_commissions``
        #: until ``release_commissions`` (TWS reports commissions after the execution and
        #: the order status, sometimes well after)
        self.hold_commissions = False
        self.held_commissions: list[ServerExecution] = []
        #: while True, a fill's commission reports go out before its executions (the
        #: order ib_async drops a report in, knowing no execution of its execId yet)
        self.commission_first = False
        #: False: a combo's leg executions carry no orderRef, only the combo's orderId and
        #: permId (whether TWS copies the orderRef onto leg executions is unconfirmed)
        self.leg_order_refs = True
        self.partial_quantity = 1.0
        #: a cancel racing a fill: None (the cancel wins), 'refused_first' (the fill won:
        #: error 10148 "cannot be cancelled, state: Filled" comes before the execution,
        #: which ib_async takes for a cancel) or 'cancelled_first' (status Cancelled and
        #: error 202, then an execution the exchange made before the cancel reached it);
        #: ``race_quantity`` shares fill (None: the rest)
        self.cancel_race: str | None = None
        self.race_quantity: float | None = None
        #: cancels TWS refuses while the order keeps working: each cancelOrder takes the
        #: next state and is answered with error 10148 "cannot be cancelled, state: <it>"
        #: (e.g. 'Submitted', 'PreSubmitted', or 'PendingCancel' for a cancel already
        #: pending); the order stays as it was until the test fills or cancels it
        #: (``fill``, ``cancel_by_server``). Empty: cancels go through
        self.cancel_refusals: list[str] = []
        self.reject_reason = "The order quantity exceeds the maximum allowed for this account"
        #: the error code 'reject' answers a new order with: 201 ("Order rejected -
        #: reason:..."), or another code TWS refuses an order with, its text the reason
        #: (e.g. 110, a price off the contract's tick)
        self.reject_code = 201
        self.stocks: dict[str, Contract] = {}
        self.options: dict[int, Contract] = {}
        self._option_keys: dict[tuple, Contract] = {}
        self.quotes: dict[int, OptionQuote] = {}
        #: conIds reqSecDefOptParams lists per symbol (every known option when absent)
        self.listed: dict[str, set[int]] = {}
        self.last_price: dict[str, float] = {}
        self.history: dict[str, list[tuple]] = {}
        self.history_errors: dict[str, list[int]] = {}
        #: requests (names of ``REQUESTS``) never answered, and those on whose arrival every
        #: socket is closed
        self.ignore: set[str] = set()
        self.drop_on: set[str] = set()
        self.orders: dict[int, ServerOrder] = {}  # by permId
        self.executions: list[ServerExecution] = []
        self.positions: dict[int, list] = {}  # conId -> [contract, qty, avg cost per unit]
        self.received: list[tuple[int | None, list[str]]] = []
        self.placed: list[wire.OrderMsg] = []
        #: time.perf_counter() at which each placeOrder was read (for latency benchmarks)
        self.placed_at: list[float] = []
        self.connects = 0
        self.refused_326 = 0
        self.refused_paused = 0
        #: while True, connections are closed right after accept (TWS down or restarting)
        self.paused = False
        self.busy_client_ids: dict[int, int] = {}
        #: epoch seconds of the fake's clock, set by the bars it streams (None: real time)
        self.clock: float | None = None
        self._next_order_id = first_order_id
        self._perm_ids = itertools.count(900_001)
        self._exec_ids = itertools.count(1)
        self._con_ids = itertools.count(700_001)
        self._conns: list[_Conn] = []
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._server: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ life cycle
    def start(self) -> FakeTWS:
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(8)
        self.port = self._server.getsockname()[1]
        thread = threading.Thread(target=self._accept_loop, name="fake-tws-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self.drop_connections()

    def __enter__(self) -> FakeTWS:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while self._server is not None:
            try:
                sock, _ = self._server.accept()
            except OSError:
                return
            if self.paused:  # TWS restarting: the socket opens and closes at once
                sock.close()
                with self._lock:
                    self.refused_paused += 1
                self._changed()
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(sock)
            with self._lock:
                self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), name="fake-tws-conn",
                                      daemon=True)
            thread.start()

    def wait_until(self, predicate: Callable[[], bool], timeout: float = WAIT,
                   what: str = "condition") -> None:
        """Block until ``predicate()`` holds (checked whenever the fake's state changes)."""
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise AssertionError(f"fake TWS: timed out waiting for {what}")

    def _changed(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def wake(self) -> None:
        """Wake ``wait_until``: for a predicate that also reads state outside the fake (a
        command's exit code set by the test's thread), so the wait ends when it changes."""
        self._changed()

    @property
    def connected_client_ids(self) -> list[int]:
        with self._lock:
            return [c.client_id for c in self._conns if c.alive and c.client_id is not None]

    def drop_connections(self, busy_reconnects: int = 0) -> None:
        """Close every client socket; the next ``busy_reconnects`` attempts per clientId
        are answered with error 326 (TWS has not noticed the old socket is gone)."""
        with self._lock:
            conns, self._conns = self._conns, []
            for conn in conns:
                if busy_reconnects and conn.client_id is not None:
                    self.busy_client_ids[conn.client_id] = busy_reconnects
                conn.alive = False
        for conn in conns:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.sock.close()
        self._changed()

    def freeze(self) -> None:
        """TWS hangs: nothing more is sent to the clients connected now, their sockets stay
        open and what they send is still read (and recorded); new connections are served."""
        with self._lock:
            for conn in self._conns:
                conn.frozen = True
        self._changed()

    # ------------------------------------------------------------------ reference data
    def add_stock(self, symbol: str, con_id: int | None = None, price: float = 100.0,
                  primary_exchange: str = "ARCA") -> Contract:
        c = Contract(con_id or next(self._con_ids), symbol, "STK",
                     primary_exchange=primary_exchange, local_symbol=symbol,
                     trading_class=symbol, long_name=f"{symbol} TRUST")
        self.stocks[symbol] = c
        self.last_price[symbol] = price
        return c

    def add_option(self, symbol: str, expiry: str, strike: float, right: str,
                   quote: OptionQuote | None = None) -> Contract:
        known = self.option(symbol, expiry, strike, right)
        if known is not None:  # same contract, new quote (a later day's chain)
            if quote is not None:
                self.quotes[known.con_id] = quote
            return known
        under = self.stocks[symbol]
        day = dt.datetime.strptime(expiry, "%Y%m%d")
        local = f"{symbol:<6}{day:%y%m%d}{right}{int(round(strike * 1000)):08d}"
        c = Contract(next(self._con_ids), symbol, "OPT", expiry, float(strike), right, "100",
                     primary_exchange="", local_symbol=local, trading_class=symbol,
                     long_name=under.long_name, under_con_id=under.con_id)
        self.options[c.con_id] = c
        self._option_keys[(symbol, expiry, round(float(strike), 4), right)] = c
        if quote is not None:
            self.quotes[c.con_id] = quote
        return c

    def add_chain_frame(self, symbol: str, frame) -> None:
        """Every contract of one date's chain (``feeds.chain.OptionChain.chain``) with its
        bid/ask/delta/iv, and its model value ``mid`` as the mark, as this fake's option
        market; reqSecDefOptParams lists these contracts only from now on (contracts
        listed earlier stay tradable and quoted)."""
        listed = set()
        for row in frame.itertuples(index=False):
            c = self.add_option(symbol, f"{row.expiry:%Y%m%d}", float(row.strike), row.right,
                                OptionQuote(float(row.bid), float(row.ask), float(row.delta),
                                            float(row.iv), float(row.gamma), float(row.vega),
                                            float(row.theta), float(row.underlying),
                                            mark=float(row.mid)))
            listed.add(c.con_id)
        with self._lock:
            self.listed[symbol] = listed

    def option(self, symbol: str, expiry: str, strike: float, right: str) -> Contract | None:
        return self._option_keys.get((symbol, expiry, round(float(strike), 4), right))

    def now(self) -> dt.datetime:
        """The fake's time: the end of the last streamed bar, else the real time (aware)."""
        if self.clock is None:
            return dt.datetime.now(dt.UTC)
        return dt.datetime.fromtimestamp(self.clock, dt.UTC)

    def set_history(self, symbol: str, bars: list[tuple]) -> None:
        """Bars answered to reqHistoricalData: (date, open, high, low, close, vol) with the
        date a ``dt.date`` or ``'YYYYMMDD'`` (daily bars) or an aware datetime (intraday, sent
        in New York time with its zone, as TWS does)."""
        bars = [(ib_bar_date(b[0]), *b[1:]) for b in bars]
        self.history[symbol] = list(bars)
        if bars:
            self.last_price[symbol] = float(bars[-1][4])

    # ------------------------------------------------------------------ serving
    def _serve(self, conn: _Conn) -> None:
        buffer = b""
        try:
            buffer = self._handshake(conn)
            if buffer is None:
                return
            while conn.alive:
                messages, buffer = wire.split_messages(buffer)
                for fields in messages:
                    with self._lock:
                        self.received.append((conn.client_id, fields))
                    self._dispatch(conn, fields)
                    self._changed()
                if not conn.alive:
                    break
                data = conn.sock.recv(65536)
                if not data:
                    break
                buffer += data
        except OSError:
            pass
        finally:
            conn.alive = False
            with self._lock:
                if conn in self._conns:
                    self._conns.remove(conn)
            try:
                conn.sock.close()
            except OSError:
                pass
            self._changed()

    def _handshake(self, conn: _Conn) -> bytes | None:
        buffer = b""
        while True:
            if buffer.startswith(b"API\0") and len(buffer) >= 8:
                size = int.from_bytes(buffer[4:8], "big")
                if len(buffer) >= 8 + size:
                    break
            data = conn.sock.recv(4096)
            if not data:
                return None
            buffer += data
        size = int.from_bytes(buffer[4:8], "big")
        text = buffer[8:8 + size].decode()
        low, high = text[1:].split(" ")[0].split("..")
        version = min(int(high), self.server_version)
        if version < int(low):
            return None
        conn.encoder = Encoder(version)
        conn.send(wire.frame([version, f"{self.now().astimezone(NEW_YORK):%Y%m%d %H:%M:%S %Z}"]))
        return buffer[8 + size:]

    #: message ids of the requests ``ignore`` and ``drop_on`` name
    REQUESTS = {"history": 20, "contract_details": 9, "current_time": 49, "cancel_order": 4,
                "open_orders": 5}

    def _dispatch(self, conn: _Conn, f: list[str]) -> None:
        msg_id = int(f[0])
        if any(self.REQUESTS[name] == msg_id for name in self.drop_on):
            threading.Thread(target=self.drop_connections, daemon=True).start()
            return
        if any(self.REQUESTS[name] == msg_id for name in self.ignore):
            return
        handler = getattr(self, f"_on_{msg_id}", None)
        if handler is not None:
            handler(conn, f)

    # startApi
    def _on_71(self, conn: _Conn, f: list[str]) -> None:
        client_id = int(f[2])
        enc = conn.encoder
        with self._lock:
            busy = self.busy_client_ids.get(client_id, 0)
            in_use = any(c is not conn and c.alive and c.client_id == client_id
                         for c in self._conns)
            if busy:
                self.busy_client_ids[client_id] = busy - 1
            if busy or in_use:
                self.refused_326 += 1
        if busy or in_use:
            conn.send(enc.error(-1, 326, "Unable to connect as the client id is already in "
                                          "use. Retry with a unique client id."))
            conn.alive = False
            conn.sock.shutdown(socket.SHUT_RDWR)
            return
        conn.client_id = client_id
        with self._lock:
            self.connects += 1
            next_id = max([self._next_order_id] + [o.order_id + 1 for o in self.orders.values()])
        conn.send(enc.managed_accounts(self.accounts), enc.next_valid_id(next_id),
                  enc.error(-1, 2104, "Market data farm connection is OK:usfarm"),
                  enc.error(-1, 2106, "HMDS data farm connection is OK:ushmds"),
                  enc.error(-1, 2158, "Sec-def data farm connection is OK:secdefnj"))

    # reqIds
    def _on_8(self, conn: _Conn, f: list[str]) -> None:
        with self._lock:
            next_id = max([self._next_order_id] + [o.order_id + 1 for o in self.orders.values()])
        conn.send(conn.encoder.next_valid_id(next_id))

    # reqManagedAccts
    def _on_17(self, conn: _Conn, f: list[str]) -> None:
        conn.send(conn.encoder.managed_accounts(self.accounts))

    # reqCurrentTime
    def _on_49(self, conn: _Conn, f: list[str]) -> None:
        conn.send(conn.encoder.current_time(int(self.now().timestamp())))

    # reqPositions
    def _on_61(self, conn: _Conn, f: list[str]) -> None:
        conn.positions = True
        enc = conn.encoder
        with self._lock:
            rows = [enc.position(self.accounts[0], c, qty, avg)
                    for c, qty, avg in self.positions.values()]
        conn.send(*rows, enc.position_end())

    # cancelPositions
    def _on_64(self, conn: _Conn, f: list[str]) -> None:
        conn.positions = False

    # reqOpenOrders / reqAllOpenOrders
    def _on_5(self, conn: _Conn, f: list[str]) -> None:
        enc = conn.encoder
        with self._lock:
            mine = [o for o in self.orders.values()
                    if o.is_open and (o.client_id == conn.client_id or int(f[0]) == 16)]
            out = []
            for o in mine:
                out += [enc.open_order(o, o.status), self._status_msg(enc, o)]
        conn.send(*out, enc.open_order_end())

    _on_16 = _on_5

    # reqCompletedOrders
    def _on_99(self, conn: _Conn, f: list[str]) -> None:
        enc = conn.encoder
        with self._lock:
            done = [o for o in self.orders.values() if o.status in ("Filled", "Cancelled")]
            out = [enc.completed_order(o, o.status, ib_time(self.now())) for o in done]
        conn.send(*out, enc.completed_orders_end())

    # reqAccountUpdates
    def _on_6(self, conn: _Conn, f: list[str]) -> None:
        conn.account_updates = f[2] == "1"
        if conn.account_updates:
            enc = conn.encoder
            conn.send(*self._account_messages(conn), enc.account_download_end(f[3]))

    # reqAccountUpdatesMulti
    def _on_76(self, conn: _Conn, f: list[str]) -> None:
        req_id, account = int(f[2]), f[3]
        enc = conn.encoder
        values = self._account_values()
        conn.send(*[enc.account_update_multi(req_id, account, k, v, cur)
                    for k, v, cur in values], enc.account_update_multi_end(req_id))

    # reqAccountSummary
    def _on_62(self, conn: _Conn, f: list[str]) -> None:
        conn.send(conn.encoder.account_summary_end(int(f[2])))

    # reqExecutions
    def _on_7(self, conn: _Conn, f: list[str]) -> None:
        req_id, client_filter = int(f[2]), int(f[3] or 0)
        enc = conn.encoder
        with self._lock:
            rows = [e for e in self.executions
                    if client_filter in (0, e.client_id)]
            held = {e.exec_id for e in self.held_commissions}
        out = [enc.execution(req_id, e) for e in rows]
        out.append(enc.execution_end(req_id))
        out += [enc.commission_report(e.exec_id, e.commission, e.realized)
                for e in rows if e.commission is not None and e.exec_id not in held]
        conn.send(*out)

    # reqContractDetails
    def _on_9(self, conn: _Conn, f: list[str]) -> None:
        req_id = int(f[2])
        con_id, symbol, sec_type = int(f[3] or 0), f[4], f[5]
        expiry, strike, right = f[6], float(f[7] or 0), f[8]
        enc = conn.encoder
        if sec_type == "BAG":
            conn.send(enc.error(req_id, 321, "Error validating request.-'bW' : cause - 'BAG' "
                                             "isn't supported for contract data request"))
            return
        with self._lock:
            candidates = list(self.stocks.values()) + list(self.options.values())
        found = [c for c in candidates
                 if (con_id and c.con_id == con_id) or (
                     not con_id and c.symbol == symbol and c.sec_type == sec_type
                     and (not expiry or c.expiry == expiry)
                     and (not strike or abs(c.strike - strike) < 1e-6)
                     and (not right or c.right == right[0]))]
        if not found:
            conn.send(enc.error(req_id, 200, "No security definition has been found for the "
                                             "request"))
            return
        conn.send(*[enc.contract_data(req_id, c) for c in found], enc.contract_data_end(req_id))

    # reqSecDefOptParams
    def _on_78(self, conn: _Conn, f: list[str]) -> None:
        req_id, symbol = int(f[1]), f[2]
        enc = conn.encoder
        with self._lock:
            listed = self.listed.get(symbol)
            mine = [c for c in self.options.values() if c.symbol == symbol
                    and (listed is None or c.con_id in listed)]
        out = []
        if mine:
            expirations = sorted({c.expiry for c in mine})
            strikes = sorted({c.strike for c in mine})
            under = self.stocks[symbol].con_id
            for exchange in ("SMART", "CBOE"):
                out.append(enc.sec_def_opt_params(req_id, exchange, under, symbol,
                                                  expirations, strikes))
        conn.send(*out, enc.sec_def_opt_params_end(req_id))

    # reqMktData: options get bid/ask and the model computation; stocks their last price
    def _on_1(self, conn: _Conn, f: list[str]) -> None:
        req_id, con_id, sec_type, symbol = int(f[2]), int(f[3] or 0), f[5], f[4]
        snapshot = f[-3] == "1"
        enc = conn.encoder
        out = []
        quote = self.quotes.get(con_id)
        if sec_type == "OPT" and quote is not None:
            out += [enc.tick_price(req_id, 1, quote.bid, 10), enc.tick_price(req_id, 2, quote.ask, 10),
                    enc.option_computation(req_id, 13, quote.iv, quote.delta, quote.mid,
                                           quote.gamma, quote.vega, quote.theta,
                                           quote.underlying)]
        elif symbol in self.last_price:
            out.append(enc.tick_price(req_id, 4, self.last_price[symbol], 100))
        if snapshot:
            out.append(enc.tick_snapshot_end(req_id))
        conn.send(*out)

    # reqHistoricalData
    def _on_20(self, conn: _Conn, f: list[str]) -> None:
        req_id, symbol = int(f[1]), f[3]
        keep_up = f[-2] == "1"
        enc = conn.encoder
        with self._lock:
            errors = self.history_errors.get(symbol)
            code = errors.pop(0) if errors else None
        if code is not None:
            conn.send(enc.error(req_id, code, "Historical Market Data Service error message:"
                                              "API historical data query cancelled: " + str(req_id)))
            return
        if keep_up:
            conn.keep_up[req_id] = symbol
            if "day" in f[16] or "week" in f[16] or "month" in f[16]:  # the bar size
                conn.daily_keep_up.add(req_id)
        conn.send(enc.historical_data(req_id, self.history.get(symbol, [])))

    # cancelHistoricalData
    def _on_25(self, conn: _Conn, f: list[str]) -> None:
        conn.keep_up.pop(int(f[2]), None)
        conn.daily_keep_up.discard(int(f[2]))

    # reqRealTimeBars
    def _on_50(self, conn: _Conn, f: list[str]) -> None:
        conn.realtime[int(f[2])] = f[4]

    # cancelRealTimeBars
    def _on_51(self, conn: _Conn, f: list[str]) -> None:
        conn.realtime.pop(int(f[2]), None)

    # placeOrder
    def _on_3(self, conn: _Conn, f: list[str]) -> None:
        """Record the order once fully handled (acknowledged, filled or rejected), so a test
        waiting for ``placed`` never races the replies."""
        msg = wire.parse_place_order(f)
        read_at = time.perf_counter()
        try:
            self._place(conn, msg)
        finally:
            with self._lock:
                self.placed.append(msg)
                self.placed_at.append(read_at)

    def _place(self, conn: _Conn, msg: wire.OrderMsg) -> None:
        enc = conn.encoder
        with self._lock:
            existing = next((o for o in self.orders.values()
                             if o.order_id == msg.order_id and o.client_id == conn.client_id),
                            None)
            if existing is not None:  # a modify
                existing.limit, existing.quantity = msg.limit, msg.quantity
                conn.send(enc.open_order(existing, existing.status),
                          self._status_msg(enc, existing))
                return
            if any(o.order_id == msg.order_id for o in self.orders.values()):
                conn.send(enc.error(msg.order_id, 103, "Duplicate order id"))
                return
            contract = self._order_contract(msg)
            if contract is None:
                conn.send(enc.error(msg.order_id, 200, "No security definition has been found "
                                                       "for the request"))
                return
            order = ServerOrder(msg.order_id, conn.client_id, next(self._perm_ids), contract,
                                msg.action, msg.quantity, msg.order_type, msg.limit, msg.aux,
                                msg.tif, msg.account or self.accounts[0], msg.order_ref,
                                msg.legs, msg.smart_combo_params)
            self._next_order_id = max(self._next_order_id, msg.order_id + 1)
            mode = self.order_mode
        if mode == "reject":
            text = self.reject_reason if self.reject_code != 201 else \
                f"Order rejected - reason:{self.reject_reason}"
            conn.send(enc.error(order.order_id, self.reject_code, text))
            return
        if mode == "lost":  # read, then neither kept nor answered: listed nowhere
            return
        with self._lock:
            self.orders[order.perm_id] = order
        if mode == "silent":  # the test answers later (``reject``, ``fill``)
            return
        conn.send(enc.open_order(order, "PreSubmitted"), self._status_msg(enc, order))
        if callable(mode):
            mode(self, order)
        elif mode == "fill":
            self.fill(order)
        elif mode == "partial":
            self.fill(order, quantity=self.partial_quantity)

    def _order_contract(self, msg: wire.OrderMsg) -> Contract | None:
        c = msg.contract
        if c["secType"] == "BAG":
            if not msg.legs or any(leg.con_id not in self.options for leg in msg.legs):
                return None
            return Contract(BAG_CON_ID, c["symbol"], "BAG", exchange=c["exchange"] or "SMART",
                            primary_exchange="", local_symbol="", trading_class="COMB")
        con_id = int(c["conId"] or 0)
        for known in list(self.stocks.values()) + list(self.options.values()):
            if known.con_id == con_id or (not con_id and known.symbol == c["symbol"]
                                          and known.sec_type == c["secType"]):
                return known
        return None

    # cancelOrder
    def _on_4(self, conn: _Conn, f: list[str]) -> None:
        order_id = int(f[2])
        with self._lock:
            order = next((o for o in self.orders.values()
                          if o.order_id == order_id and o.client_id == conn.client_id), None)
        if order is None or not order.is_open:
            conn.send(conn.encoder.error(order_id, 10147, f"OrderId {order_id} that needs to be "
                                                          "cancelled is not found."))
            return
        with self._lock:
            refusal = self.cancel_refusals.pop(0) if self.cancel_refusals else None
        if refusal is not None:  # the order goes on working
            conn.send(conn.encoder.error(order_id, 10148, f"OrderId {order_id} that needs to "
                                                          "be cancelled cannot be cancelled, "
                                                          f"state: {refusal}."))
            self._changed()
            return
        race = self.cancel_race
        if race == "refused_first":  # the fill won; TWS's cancel reject overtakes its report
            conn.send(conn.encoder.error(order_id, 10148, f"OrderId {order_id} that needs to "
                                                          "be cancelled cannot be cancelled, "
                                                          "state: Filled."))
        elif race == "cancelled_first":  # TWS reports the cancel, the fill comes after it
            self.cancel_by_server(order, "")
        if race is not None:
            self.fill(order, quantity=self.race_quantity)
            return
        self.cancel_by_server(order, "")

    # ------------------------------------------------------------------ scripting
    def _status_msg(self, enc: Encoder, o: ServerOrder) -> bytes:
        return enc.order_status(o.order_id, o.status, o.filled, o.remaining, o.avg_price,
                                o.perm_id, o.last_price, o.client_id)

    def _conns_of(self, client_id: int) -> list[_Conn]:
        with self._lock:
            return [c for c in self._conns if c.alive and c.client_id == client_id]

    def order_by_ref(self, order_ref: str) -> ServerOrder:
        with self._lock:
            return next(o for o in self.orders.values() if o.order_ref == order_ref)

    def wait_for_order(self, count: int = 1, timeout: float = WAIT) -> ServerOrder:
        """The ``count``-th order accepted (not rejected) by the fake."""
        self.wait_until(lambda: len(self.orders) >= count, timeout, f"{count} order(s)")
        with self._lock:
            return list(self.orders.values())[count - 1]

    def reject(self, order: ServerOrder, reason: str) -> None:
        with self._lock:
            order.status = "Cancelled"
        for conn in self._conns_of(order.client_id):
            conn.send(conn.encoder.error(order.order_id, 201, f"Order rejected - reason:{reason}"))
        self._changed()

    def cancel_by_server(self, order: ServerOrder, reason: str = "") -> None:
        with self._lock:
            order.status = "Cancelled"
        for conn in self._conns_of(order.client_id):
            enc = conn.encoder
            conn.send(self._status_msg(enc, order),
                      enc.error(order.order_id, 202, f"Order Canceled - reason:{reason}"))
        self._changed()

    def release_commissions(self) -> None:
        """Send the commission reports ``hold_commissions`` kept back, to the connections
        of their orders' clientIds now connected (one that is not connected gets them
        with its executions from reqExecutions after it reconnects)."""
        with self._lock:
            held, self.held_commissions = self.held_commissions, []
        for e in held:
            for conn in self._conns_of(e.client_id):
                conn.send(conn.encoder.commission_report(e.exec_id, e.commission, e.realized))
        self._changed()

    def natural_leg_prices(self, order: ServerOrder) -> list[float]:
        """Each leg at the price that crosses the book: the ask for a leg bought, the bid
        for a leg sold (leg actions are relative to a BUY of the combo)."""
        out = []
        for leg in order.legs:
            quote = self.quotes[leg.con_id]
            buys = (leg.action == "BUY") == (order.action == "BUY")
            out.append(quote.ask if buys else quote.bid)
        return out

    def fill(self, order: ServerOrder, quantity: float | None = None,
             price: float | None = None,
             leg_prices: list[float] | None = None) -> list[ServerExecution]:
        """Execute ``quantity`` (default: the rest) at ``price`` (default: the limit, else
        the last price). A BAG fills per leg (prices solved so the legs net to ``price``)
        plus the combo's own execution at the net price, which carries no commission."""
        with self._lock:
            qty = order.remaining if quantity is None else min(quantity, order.remaining)
            if price is None:
                price = order.limit if order.limit is not None else \
                    self.last_price.get(order.contract.symbol, 100.0)
            order.avg_price = (order.avg_price * order.filled + price * qty) / (order.filled + qty)
            order.filled += qty
            order.last_price = price
            order.status = "Filled" if order.remaining <= 1e-9 else "Submitted"
            when = ib_time(self.now())
            execs = []
            if order.contract.sec_type == "BAG":
                for leg, leg_price in zip(order.legs,
                                          leg_prices or self._leg_prices(order, price),
                                          strict=True):
                    contract = self.options[leg.con_id]
                    buy = (leg.action == "BUY") == (order.action == "BUY")
                    shares = qty * leg.ratio
                    execs.append(self._execution(order, contract, buy, shares, leg_price, when,
                                                 self.option_commission * shares))
                    if not self.leg_order_refs:
                        execs[-1].order_ref = ""
                execs.append(self._execution(order, order.contract, order.action == "BUY", qty,
                                             price, when, None, cum=order.filled))
            else:
                execs.append(self._execution(order, order.contract, order.action == "BUY", qty,
                                             price, when,
                                             self.stock_commission(qty, price), cum=order.filled))
            self.executions += execs
            moved = [self._book(e) for e in execs if e.contract.sec_type != "BAG"]
        for conn in self._conns_of(order.client_id):
            enc = conn.encoder
            reports = [] if self.hold_commissions else [
                enc.commission_report(e.exec_id, e.commission, e.realized)
                for e in execs if e.commission is not None]
            out = reports if self.commission_first else []
            out += [enc.execution(-1, e) for e in execs]
            out.append(self._status_msg(enc, order))
            out.append(enc.open_order(order, order.status))
            if not self.commission_first:
                out += reports
            if conn.positions:
                out += [enc.position(self.accounts[0], c, qty, avg) for c, qty, avg in moved]
            conn.send(*out)
        if self.hold_commissions:
            with self._lock:
                self.held_commissions += [e for e in execs if e.commission is not None]
        self._push_account()
        self._changed()
        return execs

    def correct(self, execution: ServerExecution, shares: float | None = None,
                price: float | None = None,
                commission: float | None = None) -> ServerExecution:
        """TWS corrects ``execution``: a new execution whose execId differs only in the
        digits after the final period (``.01`` -> ``.02``; IB's ``Execution.ExecId``
        reference), with the corrected shares, price and commission (default: the old
        ones). It replaces the earlier one, in the fake's cash, positions and order too;
        both stay in the executions ``reqExecutions`` replays. The order's clientId gets
        the execDetails (reqId -1), the order's status, the commission report, the
        position and the account values (whether TWS sends a status or a position with a
        correction is unconfirmed)."""
        with self._lock:
            stem, _, version = execution.exec_id.rpartition(".")
            shares = execution.shares if shares is None else shares
            price = execution.price if price is None else price
            order = self.orders.get(execution.perm_id)
            cum = execution.cum_qty - execution.shares + shares
            new = replace(execution, exec_id=f"{stem}.{int(version) + 1:02d}", shares=shares,
                          price=price, cum_qty=cum, avg_price=price,
                          commission=execution.commission if commission is None
                          else commission)
            # the old execution out of the fake's books, the correction in
            undo = replace(execution, side="SLD" if execution.side == "BOT" else "BOT",
                           commission=-(execution.commission or 0.0))
            self._book(undo)
            moved = [self._book(new)] if new.contract.sec_type != "BAG" else []
            if order is not None and order.contract.con_id == execution.contract.con_id:
                value = order.avg_price * order.filled - execution.price * execution.shares
                order.filled += shares - execution.shares
                order.avg_price = (value + price * shares) / order.filled if order.filled \
                    else 0.0
                order.last_price = price
            self.executions.append(new)
        for conn in self._conns_of(execution.client_id):
            enc = conn.encoder
            out = [enc.execution(-1, new)]
            if order is not None:
                out.append(self._status_msg(enc, order))
            if new.commission is not None:
                out.append(enc.commission_report(new.exec_id, new.commission, new.realized))
            if conn.positions:
                out += [enc.position(self.accounts[0], c, qty, avg) for c, qty, avg in moved]
            conn.send(*out)
        self._push_account()
        self._changed()
        return new

    def _leg_prices(self, order: ServerOrder, net: float) -> list[float]:
        """Per-leg prices whose combo value (BUY legs +, SELL legs -) equals ``net``."""
        prices = []
        for leg in order.legs:
            quote = self.quotes.get(leg.con_id)
            prices.append(round(quote.mid, 2) if quote else 1.0)
        signs = [(1 if leg.action == "BUY" else -1) * leg.ratio for leg in order.legs]
        rest = sum(s * p for s, p in zip(signs[1:], prices[1:], strict=True))
        prices[0] = round((net - rest) / signs[0], 4)
        return prices

    def _execution(self, order: ServerOrder, contract: Contract, buy: bool, shares: float,
                   price: float, when: str, commission: float | None,
                   cum: float | None = None) -> ServerExecution:
        return ServerExecution(
            f"0000e0d5.{next(self._exec_ids):08x}.01.01", order.order_id, order.client_id,
            order.perm_id, contract, "BOT" if buy else "SLD", shares, price,
            cum if cum is not None else shares, price, order.order_ref, when, order.account,
            commission)

    def _book(self, e: ServerExecution) -> tuple[Contract, float, float]:
        c = e.contract
        signed = e.shares if e.side == "BOT" else -e.shares
        self.cash -= signed * e.price * c.mult + (e.commission or 0.0)
        _, qty, avg = self.positions.get(c.con_id, [c, 0.0, 0.0])
        new = qty + signed
        if abs(new) < 1e-9:
            self.positions.pop(c.con_id, None)
        else:
            if qty == 0 or (qty > 0) == (signed > 0):
                avg = (avg * abs(qty) + e.price * c.mult * abs(signed)) / abs(new)
            self.positions[c.con_id] = [c, new, avg]
        return c, new, avg if abs(new) > 1e-9 else 0.0

    def _mark(self, c: Contract) -> float:
        if c.sec_type == "OPT":
            quote = self.quotes.get(c.con_id)
            return quote.market_price if quote else 0.0
        return self.last_price.get(c.symbol, 0.0)

    def _account_values(self) -> list[tuple[str, str, str]]:
        with self._lock:
            net = self.cash + sum(qty * self._mark(c) * c.mult
                                  for c, qty, _ in self.positions.values())
            cash = self.cash
        base = self.base_currency
        if base != "USD":
            # as a EUR-based paper account reports (a capture of ib_async's accountValues):
            # TotalCashValue and NetLiquidation only in the base currency, cash balances
            # per currency plus BASE, ExchangeRate per currency (base units per unit)
            rate = self.usd_rate or 1.0
            rows = [("AccountCode", self.accounts[0], ""),
                    ("NetLiquidation", f"{net * rate:.2f}", base),
                    ("TotalCashValue", f"{cash * rate:.2f}", base),
                    ("TotalCashBalance", f"{cash * rate:.4f}", "BASE"),
                    ("TotalCashBalance", "0.00", base),
                    ("TotalCashBalance", f"{cash:.4f}", "USD"),
                    ("ExchangeRate", "1.00", "BASE"), ("ExchangeRate", "1.00", base)]
            if self.usd_rate is not None:
                rows.append(("ExchangeRate", f"{self.usd_rate:.7f}", "USD"))
            return rows
        return [("AccountCode", self.accounts[0], ""), ("AccountType", "INDIVIDUAL", ""),
                ("NetLiquidation", f"{net:.2f}", "USD"), ("TotalCashValue", f"{cash:.2f}", "USD"),
                ("TotalCashBalance", f"{cash:.2f}", "BASE"), ("BuyingPower", f"{4 * net:.2f}",
                                                               "USD"),
                ("AvailableFunds", f"{net:.2f}", "USD")]

    def _account_messages(self, conn: _Conn) -> list[bytes]:
        enc, account = conn.encoder, self.accounts[0]
        out = [enc.account_value(k, v, cur, account) for k, v, cur in self._account_values()]
        with self._lock:
            held = {c.con_id: c for c, _, _ in self.positions.values()}
            for c, qty, avg in self.positions.values():
                mark = self._mark(c)
                out.append(enc.portfolio_value(c, qty, mark, qty * mark * c.mult, avg,
                                               qty * (mark * c.mult - avg), 0.0, account))
            # IB_PROTOCOL 1.6: a portfolio row with position 0 removes the item
            out += [enc.portfolio_value(c, 0, self._mark(c), 0.0, 0.0, 0.0, 0.0, account)
                    for con_id, c in conn.portfolio.items() if con_id not in held]
            conn.portfolio = held
        out.append(enc.account_time(f"{self.now().astimezone(NEW_YORK):%H:%M}"))
        return out

    def _push_account(self) -> None:
        with self._lock:
            conns = [c for c in self._conns if c.alive and c.account_updates]
        for conn in conns:
            conn.send(*self._account_messages(conn))

    def expire_options(self, symbol: str, expiry: str, spot: float) -> None:
        """Expiry: every ``symbol`` option of ``expiry`` leaves the positions, cash-settled
        at intrinsic value from ``spot`` (position updates and account values go out), and
        orders still working on one of them are cancelled by TWS (an expired contract
        cannot trade; the cancel reads as any server cancel: status Cancelled + error
        202)."""
        with self._lock:
            expired = {c.con_id for c in self.options.values()
                       if c.symbol == symbol and c.expiry == expiry}
            gone = [(c, qty) for c, qty, _ in self.positions.values()
                    if c.con_id in expired]
            for c, qty in gone:
                intrinsic = max(spot - c.strike, 0.0) if c.right == "C" else \
                    max(c.strike - spot, 0.0)
                self.cash += qty * intrinsic * c.mult
                del self.positions[c.con_id]
            conns = [x for x in self._conns if x.alive and x.positions]
            stranded = [o for o in self.orders.values() if o.is_open and (
                o.contract.con_id in expired or any(leg.con_id in expired for leg in o.legs))]
        for conn in conns:
            conn.send(*[conn.encoder.position(self.accounts[0], c, 0.0, 0.0) for c, _ in gone])
        for order in stranded:
            self.cancel_by_server(order, "contract expired")
        self._push_account()
        self._changed()

    def settle_physically(self, symbol: str, expiry: str, spot: float,
                          execution: bool = True) -> None:
        """Expiry with delivery, as IB settles stock options: every ``symbol`` option of
        ``expiry`` leaves the positions; an in-the-money one is exercised (long) or assigned
        (short), moving 100 shares per contract of the underlying at the strike (cash pays
        for them), an out-of-the-money one expires worthless. Position, portfolio and
        account updates go out; with ``execution`` also one stock execution per delivery
        with orderId 0, permId 0 and no orderRef (whether and how TWS reports the delivery
        as an execution is unconfirmed; positions are what it is known to report)."""
        stock = self.stocks[symbol]
        with self._lock:
            gone = [(c, qty) for c, qty, _ in self.positions.values()
                    if c.sec_type == "OPT" and c.symbol == symbol and c.expiry == expiry]
            moved, execs = [], []
            when = ib_time(self.now())
            for c, qty in gone:
                del self.positions[c.con_id]
                moved.append((c, 0.0, 0.0))
                itm = spot > c.strike if c.right == "C" else spot < c.strike
                if not itm:
                    continue
                shares = 100 * qty * (1 if c.right == "C" else -1)
                self.cash -= shares * c.strike
                _, have, avg = self.positions.get(stock.con_id, [stock, 0.0, 0.0])
                new = have + shares
                if abs(new) < 1e-9:
                    self.positions.pop(stock.con_id, None)
                else:
                    self.positions[stock.con_id] = [stock, new, c.strike]
                moved.append((stock, new, c.strike if abs(new) > 1e-9 else 0.0))
                execs.append(ServerExecution(
                    f"0000e0d5.{next(self._exec_ids):08x}.01.01", 0, 0, 0, stock,
                    "BOT" if shares > 0 else "SLD", abs(shares), c.strike, abs(shares),
                    c.strike, "", when, self.accounts[0], None))
            if execution:
                self.executions += execs
            conns = [x for x in self._conns if x.alive and x.client_id is not None]
        for conn in conns:
            out = [conn.encoder.execution(-1, e) for e in execs] if execution else []
            if conn.positions:
                out += [conn.encoder.position(self.accounts[0], c, q, a) for c, q, a in moved]
            if out:
                conn.send(*out)
        self._push_account()
        self._changed()

    def assign_early(self, option: Contract, contracts: int) -> None:
        """An early assignment of ``contracts`` of a short stock ``option`` before its
        expiry, as IB reports it: by positions only (the option position shrinks, 100 shares
        per contract of the underlying arrive (put) or leave (call) at the strike, cash
        pays for them), with the portfolio and account updates; no execution."""
        stock = self.stocks[option.symbol]
        with self._lock:
            _, short, avg = self.positions[option.con_id]
            assert short <= -contracts, "only a short option position is assigned"
            left = short + contracts
            if abs(left) < 1e-9:
                del self.positions[option.con_id]
            else:
                self.positions[option.con_id] = [option, left, avg]
            shares = 100 * contracts * (1 if option.right == "P" else -1)
            self.cash -= shares * option.strike
            _, have, cost = self.positions.get(stock.con_id, [stock, 0.0, 0.0])
            new = have + shares
            if abs(new) < 1e-9:
                self.positions.pop(stock.con_id, None)
            else:  # the average as _book keeps it: adding to a position averages
                same = have == 0 or (have > 0) == (shares > 0)
                cost = (cost * abs(have) + option.strike * abs(shares)) / abs(new) if same \
                    else cost
                self.positions[stock.con_id] = [stock, new, cost]
            moved = [(option, left, avg if abs(left) > 1e-9 else 0.0),
                     (stock, new, cost if abs(new) > 1e-9 else 0.0)]
            conns = [x for x in self._conns if x.alive and x.positions]
        for conn in conns:
            conn.send(*[conn.encoder.position(self.accounts[0], c, q, a) for c, q, a in moved])
        self._push_account()
        self._changed()

    def send_error(self, req_id: int, code: int, message: str) -> None:
        """An error/notice to every connected client (e.g. 1100, 1102)."""
        with self._lock:
            conns = [c for c in self._conns if c.alive and c.client_id is not None]
        for conn in conns:
            conn.send(conn.encoder.error(req_id, code, message))

    def subscribers(self, symbol: str) -> int:
        with self._lock:
            return sum(list(c.realtime.values()).count(symbol)
                       + list(c.keep_up.values()).count(symbol)
                       for c in self._conns if c.alive)

    def push_bar(self, symbol: str, epoch: int, o: float, h: float, lo: float, c: float,
                 v: float = 1000.0, account: bool = True) -> float:
        """One 5-second real-time bar starting at ``epoch`` to real-time subscribers (as
        epoch seconds), and to keepUpToDate subscribers an update of the bar stamped
        ``epoch`` (New York time with its zone; a daily subscription gets the New York
        date; same stamp again: the same bar updated; a later one: a new bar). The fake's
        clock moves to the bar's start (fills at its open), then to its end before it is
        sent. With ``order_mode ==
        'next_bar_open'`` open orders on ``symbol`` fill first at this bar's open, as a
        market order placed before the bar would. ``account=False`` skips the account and
        portfolio push (a long accelerated session). Returns ``time.perf_counter()`` at
        the send."""
        self.clock = float(epoch)
        if self.order_mode == "next_bar_open":
            with self._lock:
                pending = [o_ for o_ in self.orders.values()
                           if o_.is_open and o_.contract.symbol == symbol]
            for order in pending:
                if order.contract.sec_type != "BAG":
                    self.fill(order, price=o)
                    continue
                legs = self.natural_leg_prices(order)
                net = sum((1 if leg.action == "BUY" else -1) * leg.ratio * p
                          for leg, p in zip(order.legs, legs, strict=True))
                buying = order.action == "BUY"
                if order.limit is None or (net <= order.limit + 1e-9 if buying
                                           else net >= order.limit - 1e-9):
                    self.fill(order, price=round(net, 4), leg_prices=legs)
        with self._lock:
            self.last_price[symbol] = c
            conns = [x for x in self._conns if x.alive]
            self.clock = float(epoch) + 5  # the bar is complete (and sent) at its end
        if account:  # marks of the bar's quotes reach the client before the bar
            self._push_account()
        sent = time.perf_counter()
        start = dt.datetime.fromtimestamp(epoch, dt.UTC)
        for conn in conns:
            enc = conn.encoder
            out = [enc.realtime_bar(r, epoch, o, h, lo, c, v)
                   for r, s in conn.realtime.items() if s == symbol]
            out += [enc.historical_update(r, f"{start.astimezone(NEW_YORK):%Y%m%d}"
                                          if r in conn.daily_keep_up else ib_time(start),
                                          o, h, lo, c, v)
                    for r, s in conn.keep_up.items() if s == symbol]
            if out:
                conn.send(*out)
        self._changed()
        return sent
