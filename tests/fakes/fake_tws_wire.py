"""The TWS text protocol as the fake TWS speaks it: framing and one encoder per message.

Field orders follow the ib_async 2.1.0 decoder (``ib_async/decoder.py``) for server
versions 157..178, with the version gates listed in ``shared/IB_PROTOCOL.md`` section 1.3:
errMsg gains ``advancedOrderRejectJson`` at 166, openOrder gains its tail at 159/160/162/170
and loses ``faProfile`` at 177, contractData loses its version and ``mdSizeMultiplier`` at
164, execDetails gains ``pendingPriceRevision`` at 178. Every field is NUL-terminated and
every message after the handshake is length-prefixed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

#: IB's "unset double", what real TWS sends for an unset realizedPNL or yield
UNSET_DOUBLE = "1.7976931348623157E308"
#: IB's conId of the USD spread template that openOrder shows for a BAG
BAG_CON_ID = 28812380


def frame(fields: list) -> bytes:
    """One length-prefixed message: every field ``str()``-ed and NUL-terminated."""
    payload = "".join(f"{_text(f)}\0" for f in fields).encode()
    return struct.pack(">I", len(payload)) + payload


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value) if value != int(value) else str(int(value)) if abs(value) < 1e15 \
            else repr(value)
    return str(value)


def split_messages(buffer: bytes) -> tuple[list[list[str]], bytes]:
    """Complete framed messages in ``buffer`` (as field lists) and the unread rest."""
    out = []
    while len(buffer) >= 4:
        size = struct.unpack(">I", buffer[:4])[0]
        if len(buffer) < 4 + size:
            break
        text = buffer[4:4 + size].decode(errors="backslashreplace")
        buffer = buffer[4 + size:]
        fields = text.split("\0")
        fields.pop()  # the terminator of the last field
        out.append(fields)
    return out, buffer


@dataclass
class Contract:
    """A contract as the fake knows it (reference data), OCC local symbol for options."""

    con_id: int
    symbol: str
    sec_type: str = "STK"
    expiry: str = ""  # YYYYMMDD for options
    strike: float = 0.0
    right: str = ""
    multiplier: str = ""
    exchange: str = "SMART"
    primary_exchange: str = "ARCA"
    currency: str = "USD"
    local_symbol: str = ""
    trading_class: str = ""
    long_name: str = ""
    under_con_id: int = 0

    def eleven(self) -> list:
        """The 11 contract fields of openOrder, execDetails and position (no primaryExchange)."""
        return [self.con_id, self.symbol, self.sec_type, self.expiry, self.strike, self.right,
                self.multiplier, self.exchange, self.currency, self.local_symbol,
                self.trading_class]

    @property
    def mult(self) -> float:
        return float(self.multiplier or 1)


@dataclass
class Leg:
    con_id: int
    ratio: int
    action: str
    exchange: str = "SMART"


@dataclass
class OrderMsg:
    """What the fake read from a placeOrder message."""

    order_id: int
    contract: dict
    action: str
    quantity: float
    order_type: str
    limit: float | None
    aux: float | None
    tif: str
    account: str
    order_ref: str
    transmit: bool
    legs: list[Leg] = field(default_factory=list)
    smart_combo_params: list[tuple[str, str]] = field(default_factory=list)


CONTRACT_KEYS = ("conId", "symbol", "secType", "lastTradeDateOrContractMonth", "strike",
                 "right", "multiplier", "exchange", "primaryExchange", "currency",
                 "localSymbol", "tradingClass")


def _float_or_none(text: str) -> float | None:
    return float(text) if text not in ("", None) else None


def parse_place_order(fields: list[str]) -> OrderMsg:
    """placeOrder (msg 3): fixed head (IB_PROTOCOL 1.7), then the BAG legs when present."""
    contract = dict(zip(CONTRACT_KEYS, fields[2:14], strict=True))
    msg = OrderMsg(
        order_id=int(fields[1]), contract=contract, action=fields[16],
        quantity=float(fields[17]), order_type=fields[18],
        limit=_float_or_none(fields[19]), aux=_float_or_none(fields[20]), tif=fields[21],
        account=fields[23], order_ref=fields[26], transmit=fields[27] == "1")
    if contract["secType"] == "BAG":
        i = 35
        n = int(fields[i])
        i += 1
        for _ in range(n):
            con_id, ratio, action, exchange = fields[i:i + 4]
            msg.legs.append(Leg(int(con_id), int(ratio), action, exchange))
            i += 8
        n_prices = int(fields[i])
        i += 1 + n_prices
        n_params = int(fields[i])
        i += 1
        for _ in range(n_params):
            msg.smart_combo_params.append((fields[i], fields[i + 1]))
            i += 2
    return msg


# --------------------------------------------------------------------------- encoders
class Encoder:
    """Builds the server's messages for one negotiated server version."""

    def __init__(self, server_version: int):
        self.sv = server_version

    def error(self, req_id: int, code: int, message: str) -> bytes:
        fields = [4, 2, req_id, code, message]
        if self.sv >= 166:
            fields.append("")  # advancedOrderRejectJson
        return frame(fields)

    @staticmethod
    def managed_accounts(accounts: list[str]) -> bytes:
        return frame([15, 1, ",".join(accounts)])

    @staticmethod
    def next_valid_id(order_id: int) -> bytes:
        return frame([9, 1, order_id])

    @staticmethod
    def position(account: str, c: Contract, qty: float, avg_cost: float) -> bytes:
        return frame([61, 3, account, *c.eleven(), qty, avg_cost])

    @staticmethod
    def position_end() -> bytes:
        return frame([62, 1])

    @staticmethod
    def account_value(key: str, value, currency: str, account: str) -> bytes:
        return frame([6, 2, key, value, currency, account])

    @staticmethod
    def portfolio_value(c: Contract, qty: float, price: float, value: float, avg_cost: float,
                        unrealized: float, realized: float, account: str) -> bytes:
        return frame([7, 8, c.con_id, c.symbol, c.sec_type, c.expiry, c.strike, c.right,
                      c.multiplier, c.primary_exchange, c.currency, c.local_symbol,
                      c.trading_class, qty, price, value, avg_cost, unrealized, realized,
                      account])

    @staticmethod
    def account_time(hhmm: str) -> bytes:
        return frame([8, 1, hhmm])

    @staticmethod
    def account_download_end(account: str) -> bytes:
        return frame([54, 1, account])

    @staticmethod
    def account_update_multi(req_id: int, account: str, key: str, value, currency: str) -> bytes:
        return frame([73, 1, req_id, account, "", key, value, currency])

    @staticmethod
    def account_update_multi_end(req_id: int) -> bytes:
        return frame([74, 1, req_id])

    @staticmethod
    def account_summary_end(req_id: int) -> bytes:
        return frame([64, 1, req_id])

    def contract_data(self, req_id: int, c: Contract) -> bytes:
        is_option = c.sec_type == "OPT"
        last_times = f"{c.expiry} 16:00:00 US/Eastern" if is_option else ""
        head = [10] + ([8] if self.sv < 164 else []) + [
            req_id, c.symbol, c.sec_type, last_times, c.strike, c.right, c.exchange,
            c.currency, c.local_symbol, c.trading_class if is_option else "NMS",
            c.trading_class or c.symbol, c.con_id, 0.01]
        if self.sv < 164:
            head.append(1)  # mdSizeMultiplier
        body = [c.multiplier, "ACTIVETIM,AD,ALERT,LMT,MKT,REL,STP,STPLMT,TRAIL",
                "SMART,AMEX,CBOE,ISE" if is_option else "SMART,ARCA,NYSE",
                1, c.under_con_id, c.long_name or c.symbol,
                "" if is_option else c.primary_exchange,
                c.expiry[:6] if is_option else "", "", "", "", "US/Eastern",
                "20240102:0930-20240102:1600", "20240102:0930-20240102:1600", "", "",
                0,  # secIdListCount
                2 if is_option else 1, c.symbol if is_option else "",
                "STK" if is_option else "", "32,109" if is_option else "26,26",
                c.expiry if is_option else "", "" if is_option else "ETF"]
        if self.sv == 163:
            body.append(1)
        if self.sv >= 164:
            body += [1, 1, 1 if is_option else 100]
        return frame(head + body)

    @staticmethod
    def contract_data_end(req_id: int) -> bytes:
        return frame([52, 1, req_id])

    @staticmethod
    def sec_def_opt_params(req_id: int, exchange: str, under_con_id: int, trading_class: str,
                           expirations: list[str], strikes: list[float]) -> bytes:
        return frame([75, req_id, exchange, under_con_id, trading_class, 100,
                      len(expirations), *expirations, len(strikes), *strikes])

    @staticmethod
    def sec_def_opt_params_end(req_id: int) -> bytes:
        return frame([76, req_id])

    @staticmethod
    def tick_price(req_id: int, tick_type: int, price: float, size: float) -> bytes:
        return frame([1, 6, req_id, tick_type, price, size, 0])

    @staticmethod
    def option_computation(req_id: int, tick_type: int, iv: float, delta: float, price: float,
                           gamma: float, vega: float, theta: float, und: float) -> bytes:
        return frame([21, req_id, tick_type, 1, iv, delta, price, 0.0, gamma, vega, theta, und])

    @staticmethod
    def tick_snapshot_end(req_id: int) -> bytes:
        return frame([57, 1, req_id])

    @staticmethod
    def order_status(order_id: int, status: str, filled: float, remaining: float,
                     avg_price: float, perm_id: int, last_price: float, client_id: int) -> bytes:
        return frame([3, order_id, status, filled, remaining, avg_price, perm_id, 0,
                      last_price, client_id, "", 0])

    def open_order(self, o, status: str) -> bytes:
        """openOrder (msg 5) for a fake order ``o`` (see ``fake_tws.ServerOrder``)."""
        c: Contract = o.contract
        fields = [5, o.order_id, *c.eleven(),
                  o.action, o.quantity, o.order_type, _opt(o.limit), _opt(o.aux), o.tif, "",
                  o.account, "O", 0, o.order_ref, o.client_id, o.perm_id, 0, 0, 0, "", "",
                  "", "", ""]
        if self.sv < 177:
            fields.append("")  # faProfile
        fields += ["", "", "0", "", "", 0, "", 0, 0, "", "", "", "", "", 0, 0, 0, 0, "", 3,
                   0, 0, "", 0, 0, "", 0, "", ""]
        fields += [0, 0, "", "", "", "", ""]  # continuousUpdate .. comboLegsDescrip
        fields.append(len(o.legs))
        for leg in o.legs:
            fields += [leg.con_id, leg.ratio, leg.action, leg.exchange, 0, 0, "", -1]
        fields.append(0)  # orderComboLegs
        fields.append(len(o.smart_combo_params))
        for tag, value in o.smart_combo_params:
            fields += [tag, value]
        fields += ["", "", ""]  # scale init/subs/increment
        fields.append("")  # hedgeType
        fields += [0, "", "", 0, 0]  # optOutSmartRouting .. dncPresent
        fields.append("")  # algoStrategy
        fields += [0, 0, status] + [UNSET_DOUBLE] * 9 + ["", "", "", "USD", "", 0, 0]
        fields.append(0)  # conditions
        fields += ["None", "", "", "", "", "", "", 0, "", "", "", "", 0, 0, 0, ""]
        if self.sv >= 159:
            fields.append("")  # duration
        if self.sv >= 160:
            fields.append("")  # postToAts
        if self.sv >= 162:
            fields.append(0)  # autoCancelParent
        if self.sv >= 170:
            fields += ["", "", "", "", ""]
        return frame(fields)

    @staticmethod
    def open_order_end() -> bytes:
        return frame([53, 1])

    def completed_order(self, o, status: str, completed_time: str) -> bytes:
        """completedOrder (msg 101): a filled or cancelled order, no orderId/clientId."""
        c: Contract = o.contract
        fields = [101, *c.eleven(),
                  o.action, o.quantity, o.order_type, _opt(o.limit), _opt(o.aux), o.tif, "",
                  o.account, "O", 0, o.order_ref, o.perm_id, 0, 0, 0, "", "", "", ""]
        if self.sv < 177:
            fields.append("")  # faProfile
        fields += ["", "", "0", "", "", 0, "", 0, "", "", "", "", "", 0, 0, 0, "", 3, 0, "",
                   0, "", ""]
        fields += [0, 0, "", "", ""]  # continuousUpdate .. comboLegsDescrip
        fields.append(len(o.legs))
        for leg in o.legs:
            fields += [leg.con_id, leg.ratio, leg.action, leg.exchange, 0, 0, "", -1]
        fields.append(0)
        fields.append(len(o.smart_combo_params))
        for tag, value in o.smart_combo_params:
            fields += [tag, value]
        fields += ["", "", ""]
        fields.append("")  # hedgeType
        fields += ["", "", 0, 0]  # clearingAccount .. dncPresent
        fields.append("")  # algoStrategy
        fields += [0, status, 0, 0]
        fields.append(0)  # conditions
        fields += ["", "", "", 0, 0, "", o.filled, 0, 0, "", 0, 0, "", completed_time,
                   status]
        if self.sv >= 170:
            fields += ["", "", "", "", ""]
        return frame(fields)

    @staticmethod
    def completed_orders_end() -> bytes:
        return frame([102])

    def execution(self, req_id: int, e) -> bytes:
        """execDetails (msg 11) for a fake execution ``e`` (see ``fake_tws.ServerExecution``)."""
        c: Contract = e.contract
        fields = [11, req_id, e.order_id, *c.eleven(), e.exec_id, e.time, e.account,
                  "ISLAND" if c.sec_type == "STK" else "CBOE", e.side, e.shares, e.price,
                  e.perm_id, e.client_id, 0, e.cum_qty, e.avg_price, e.order_ref, "", "", "",
                  1]
        if self.sv >= 178:
            fields.append(0)
        return frame(fields)

    @staticmethod
    def execution_end(req_id: int) -> bytes:
        return frame([55, 1, req_id])

    @staticmethod
    def commission_report(exec_id: str, commission: float, realized: float | None) -> bytes:
        return frame([59, 1, exec_id, commission, "USD",
                      UNSET_DOUBLE if realized is None else realized, UNSET_DOUBLE, ""])

    @staticmethod
    def historical_data(req_id: int, bars: list[tuple]) -> bytes:
        start = bars[0][0] if bars else ""
        end = bars[-1][0] if bars else ""
        fields = [17, req_id, start, end, len(bars)]
        for date, o, h, lo, c, v in bars:
            fields += [date, o, h, lo, c, v, round((o + h + lo + c) / 4, 4), 1]
        return frame(fields)

    @staticmethod
    def historical_update(req_id: int, date: str, o, h, lo, c, v) -> bytes:
        return frame([90, req_id, 1, date, o, c, h, lo, round((o + h + lo + c) / 4, 4), v])

    @staticmethod
    def realtime_bar(req_id: int, epoch: int, o, h, lo, c, v) -> bytes:
        return frame([50, 3, req_id, epoch, o, h, lo, c, v, round((o + h + lo + c) / 4, 4), 1])

    @staticmethod
    def current_time(epoch: int) -> bytes:
        return frame([49, 1, epoch])


def _opt(value):
    return "" if value is None else value
