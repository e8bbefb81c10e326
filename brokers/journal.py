"""The trading journal: an SQLite file of intents, orders, fills and commissions.

A restarted paper/live process reads it to know what it did: which orders it sent (by
``orderRef``, the key IB echoes back on orders and executions), which executions it has
already booked (by ``execId``, so a fill replayed by ``reqExecutions`` after a reconnect is
booked once), which spreads it holds, and the account value at the start of each day (for
the daily loss limit). Orders are written *before* they are sent (status ``sending``), so a
crash between the two leaves a trace that reconciliation resolves instead of resending.

One connection, used from the backtrader thread; writes commit immediately.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any

from brokers.spreads import SpreadLeg, SpreadPosition
from core.errors import DataError

#: order states after which IB will never fill more
TERMINAL = frozenset({"completed", "canceled", "rejected", "margin", "expired", "lost",
                      "refused"})

#: ``fills.booked``: 1 booked (cash, positions, its order), 0 recorded and not booked yet
#: (its commission still to come), ``COMBO`` a combo's own execution (its legs carry the
#: money), ``SUPERSEDED`` an execution a later correction of it replaced (never booked,
#: or booked and taken back when the correction was booked)
COMBO = -1
SUPERSEDED = -2

#: an execId as IB writes them (``0000e0d5.657b2c1f.01.01``): the execution's stem, then
#: the number of its version after the final period; IB: "A correction is indicated by an
#: ExecId which differs from a previous ExecId in only the digits after the final period,
#: e.g. an ExecId ending in '.02' would be a correction of a previous execution with an
#: ExecId ending in '.01'" (TWS API reference, ``Execution.ExecId``)
_EXEC_ID = re.compile(r"^(?P<stem>[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*)\.(?P<version>\d+)$")


def exec_version(exec_id: str) -> tuple[str, int] | None:
    """(stem, version) of an IB execId (``'0000e0d5.0001.01.02'`` -> ``('0000e0d5.0001.01',
    2)``): executions with the same stem are versions of one execution, the higher
    version a correction that replaces the lower. None for an id of another form (the
    broker's synthetic ``assign/...`` fills)."""
    match = _EXEC_ID.match(exec_id or "")
    return (match["stem"], int(match["version"])) if match else None

_SCHEMA = """
CREATE TABLE IF NOT EXISTS intents (
    order_ref TEXT PRIMARY KEY, created TEXT NOT NULL, strategy TEXT NOT NULL,
    intent TEXT NOT NULL, symbol TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    order_ref TEXT PRIMARY KEY REFERENCES intents(order_ref), kind TEXT NOT NULL,
    action TEXT, quantity REAL, order_type TEXT, limit_price REAL, order_id INTEGER,
    perm_id INTEGER, client_id INTEGER, status TEXT NOT NULL, filled REAL DEFAULT 0,
    reason TEXT, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fills (
    exec_id TEXT PRIMARY KEY, order_ref TEXT, perm_id INTEGER, time TEXT, con_id INTEGER,
    symbol TEXT, sec_type TEXT, expiry TEXT, strike REAL, right_ TEXT, multiplier REAL,
    side TEXT, shares REAL, price REAL, commission REAL, realized_pnl REAL,
    booked INTEGER NOT NULL DEFAULT 0, recorded TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS spreads (
    id INTEGER PRIMARY KEY, order_ref TEXT, status TEXT NOT NULL, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS days (day TEXT PRIMARY KEY, start_value REAL NOT NULL);
CREATE TABLE IF NOT EXISTS baseline (con_id INTEGER PRIMARY KEY, quantity REAL NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, kind TEXT NOT NULL,
    detail TEXT NOT NULL);
"""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class Journal:
    """``Journal(path)`` (``':memory:'`` for tests); every method commits."""

    def __init__(self, path: str | Path = ":memory:"):
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:  # another file (a CSV): read, never written
            self._db.close()
            raise DataError(f"{path} is not a paper journal (an SQLite file: {exc}); name a "
                            "new file or the journal of an earlier run") from None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def _exec(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    # ------------------------------------------------------------------ intents / orders
    def record_intent(self, order_ref: str, strategy: str, intent: str, symbol: str,
                      detail: dict[str, Any]) -> None:
        self._exec("INSERT INTO intents VALUES (?, ?, ?, ?, ?, ?)",
                   (order_ref, _now(), strategy, intent, symbol, json.dumps(detail, default=str)))

    def add_detail(self, order_ref: str, **values) -> None:
        """Merge ``values`` into an intent's detail (e.g. the legs once resolved)."""
        row = self._exec("SELECT detail FROM intents WHERE order_ref=?", (order_ref,)).fetchone()
        detail = {**json.loads(row["detail"]), **values}
        self._exec("UPDATE intents SET detail=? WHERE order_ref=?",
                   (json.dumps(detail, default=str), order_ref))

    def record_order(self, order_ref: str, kind: str, action: str, quantity: float,
                     order_type: str, limit_price: float | None, status: str = "sending",
                     reason: str | None = None) -> None:
        """Write the order before it is sent (``sending``) or when refused locally."""
        self._exec("INSERT INTO orders (order_ref, kind, action, quantity, order_type, "
                   "limit_price, status, reason, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (order_ref, kind, action, quantity, order_type, limit_price, status, reason,
                    _now()))

    def order_sent(self, order_ref: str, order_id: int, client_id: int) -> None:
        self._exec("UPDATE orders SET order_id=?, client_id=?, status='submitted', updated=? "
                   "WHERE order_ref=? AND status='sending'", (order_id, client_id, _now(),
                                                              order_ref))

    def update_order(self, order_ref: str, status: str | None = None, perm_id: int | None = None,
                     filled: float | None = None, reason: str | None = None) -> None:
        sets, args = ["updated=?"], [_now()]
        for column, value in (("status", status), ("perm_id", perm_id or None),
                              ("filled", filled), ("reason", reason)):
            if value is not None:
                sets.append(f"{column}=?")
                args.append(value)
        self._exec(f"UPDATE orders SET {', '.join(sets)} WHERE order_ref=?",
                   (*args, order_ref))

    def order(self, order_ref: str) -> dict | None:
        row = self._exec("SELECT o.*, i.strategy, i.intent, i.symbol, i.detail FROM orders o "
                         "JOIN intents i USING (order_ref) WHERE order_ref=?",
                         (order_ref,)).fetchone()
        return dict(row) if row else None

    def order_ref_of(self, perm_id: int) -> str | None:
        """The orderRef of the order IB knows by ``perm_id`` (None when none is)."""
        row = self._exec("SELECT order_ref FROM orders WHERE perm_id=?", (perm_id,)).fetchone()
        return row["order_ref"] if row else None

    def orders(self) -> list[dict]:
        rows = self._exec("SELECT o.*, i.strategy, i.intent, i.symbol, i.detail FROM orders o "
                          "JOIN intents i USING (order_ref) ORDER BY i.created").fetchall()
        return [dict(r) for r in rows]

    def open_orders(self) -> list[dict]:
        """Orders IB may still fill (not in a terminal state)."""
        return [o for o in self.orders() if o["status"] not in TERMINAL]

    # ------------------------------------------------------------------ fills
    def add_fill(self, fill, booked: int = 0) -> bool:
        """Record an execution (a ``FillUpdate``); False when its execId is already known."""
        cur = self._exec(
            "INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (fill.exec_id, fill.order_ref, fill.perm_id, str(fill.time), fill.con_id,
             fill.symbol, fill.sec_type, fill.expiry, fill.strike, fill.right, fill.multiplier,
             fill.side, fill.shares, fill.price, fill.commission, fill.realized_pnl, booked,
             _now()))
        return cur.rowcount == 1

    def set_commission(self, exec_id: str, commission: float, realized_pnl: float | None) -> None:
        self._exec("UPDATE fills SET commission=?, realized_pnl=? WHERE exec_id=?",
                   (commission, realized_pnl, exec_id))

    def mark_booked(self, exec_id: str) -> None:
        self._exec("UPDATE fills SET booked=1 WHERE exec_id=?", (exec_id,))

    def versions(self, exec_id: str) -> list[dict]:
        """The journal's other versions of execution ``exec_id`` (same stem, another
        version number: ``exec_version``), lowest version first; [] for an execId of
        another form."""
        own = exec_version(exec_id)
        if own is None:
            return []
        rows = self._exec("SELECT * FROM fills WHERE exec_id LIKE ? AND exec_id != ?",
                          (own[0] + ".%", exec_id)).fetchall()
        out = [dict(r) for r in rows
               if (v := exec_version(r["exec_id"])) is not None and v[0] == own[0]]
        return sorted(out, key=lambda r: exec_version(r["exec_id"])[1])

    def supersede(self, exec_id: str, by: str) -> None:
        """Execution ``exec_id`` is replaced by its correction ``by``: it no longer counts
        (``SUPERSEDED``), the ``events`` table says which replaced which."""
        self._exec("UPDATE fills SET booked=? WHERE exec_id=?", (SUPERSEDED, exec_id))
        self.log("correction", {"exec_id": exec_id, "replaced_by": by})

    def fill(self, exec_id: str) -> dict | None:
        row = self._exec("SELECT * FROM fills WHERE exec_id=?", (exec_id,)).fetchone()
        return dict(row) if row else None

    def fills(self, order_ref: str | None = None) -> list[dict]:
        if order_ref is None:
            rows = self._exec("SELECT * FROM fills ORDER BY recorded").fetchall()
        else:
            rows = self._exec("SELECT * FROM fills WHERE order_ref=? ORDER BY recorded",
                              (order_ref,)).fetchall()
        return [dict(r) for r in rows]

    def unbooked_fills(self) -> list[dict]:
        rows = self._exec("SELECT * FROM fills WHERE booked=0 ORDER BY recorded").fetchall()
        return [dict(r) for r in rows]

    def booked_quantities(self) -> dict[int, float]:
        """Signed quantity per conId of every booked leg/stock fill (combo rows excluded)."""
        rows = self._exec("SELECT con_id, SUM(CASE WHEN side='BOT' THEN shares ELSE -shares END)"
                          " AS q FROM fills WHERE booked=1 GROUP BY con_id").fetchall()
        return {r["con_id"]: r["q"] for r in rows}

    def expected_quantities(self) -> collections.defaultdict[int, float]:
        """The position per conId the journal explains: the baseline plus every booked
        fill (0.0 for a conId it never saw)."""
        expected = collections.defaultdict(float, self.baseline())
        for con_id, qty in self.booked_quantities().items():
            expected[con_id] += qty
        return expected

    # ------------------------------------------------------------------ positions, days
    def set_baseline(self, quantities: dict[int, float]) -> bool:
        """Positions held before this journal's first order (only written once)."""
        if self._exec("SELECT COUNT(*) FROM events WHERE kind='baseline'").fetchone()[0] or \
                self._exec("SELECT COUNT(*) FROM fills").fetchone()[0]:
            return False
        for con_id, qty in quantities.items():
            self._exec("INSERT INTO baseline VALUES (?, ?)", (con_id, qty))
        self.log("baseline", {str(k): v for k, v in quantities.items()})
        return True

    def baseline(self) -> dict[int, float]:
        return {r["con_id"]: r["quantity"]
                for r in self._exec("SELECT * FROM baseline").fetchall()}

    def day_start_value(self, day: dt.date, value: float) -> float:
        """The account value first seen on ``day`` (stored on first call, then returned)."""
        self._exec("INSERT OR IGNORE INTO days VALUES (?, ?)", (day.isoformat(), value))
        return self._exec("SELECT start_value FROM days WHERE day=?",
                          (day.isoformat(),)).fetchone()[0]

    def save_spread(self, position: SpreadPosition, order_ref: str) -> None:
        payload = json.dumps(dataclasses.asdict(position), default=str)
        self._exec("INSERT INTO spreads VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                   "status=excluded.status, payload=excluded.payload",
                   (position.id, order_ref, position.status, payload))

    def spreads(self) -> list[SpreadPosition]:
        out = []
        for row in self._exec("SELECT payload FROM spreads ORDER BY id").fetchall():
            data = json.loads(row["payload"])
            for leg in ("short", "long"):
                data[leg]["expiry"] = dt.date.fromisoformat(data[leg]["expiry"])
                data[leg] = SpreadLeg(**data[leg])
            for key in ("entry_date", "exit_date"):
                if data[key] is not None:
                    data[key] = dt.date.fromisoformat(data[key])
            out.append(SpreadPosition(**data))
        return out

    def log(self, kind: str, detail: dict[str, Any]) -> None:
        self._exec("INSERT INTO events (time, kind, detail) VALUES (?, ?, ?)",
                   (_now(), kind, json.dumps(detail, default=str)))

    def events(self, kind: str | None = None) -> list[dict]:
        sql, args = "SELECT * FROM events", ()
        if kind:
            sql, args = sql + " WHERE kind=?", (kind,)
        return [dict(r) for r in self._exec(sql + " ORDER BY id", args).fetchall()]
