"""The spine of a backtest: source -> feed -> signal indicator -> strategy -> analyzers.

One backtrader run per symbol, each with the full starting cash, so every symbol gets its
own honest return line (``SPY: Return: 12.45%``). Bars before ``start`` warm the indicators
up; the strategy trades, and metrics count, from ``start`` only.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field, replace

import backtrader as bt
import empyrical
import numpy as np
import pandas as pd

from analyzers import BarProgress, LineRecorder, TradeList
from analyzers.drawdown import RunDrawDown
from analyzers.portfolio import PortfolioPositions, merge_transactions
from analyzers.pyfolio_items import PyFolioItems
from analyzers.spread_trades import SpreadTrades
from analyzers.window import daily_returns
from brokers.options_broker import OptionsBroker
from core.domain import CONTRACT_COMMISSION
from core.errors import DataError
from engine.cerebro import RunCerebro
from feeds.base import MarketSource
from feeds.btfeed import make_feed
from strategies.registry import SIGNALS, STRATEGIES

WARMUP_SESSIONS = 60
#: horizon (sessions) of the realized direction a signal is scored against in reports
SCORING_HORIZON = 20
#: a hit rate over fewer BUY/SELL calls than this is warned of as too few to read
MIN_HIT_CALLS = 10


def check_option_slippage(option_fill: str, slippage: float) -> None:
    """Refuse a slippage that cannot be: below 0 (a fill better than mid), or with natural
    fills, which cross the bid/ask and take none (it would change nothing in silence)."""
    if not slippage >= 0.0:
        raise DataError(f"--option-slippage must be 0 or more dollars a share, got {slippage}")
    if slippage and option_fill != "mid":
        raise DataError("--option-slippage applies only with --option-fill mid (natural "
                        "fills already pay the bid/ask spread)")


@dataclass(frozen=True)
class BacktestSettings:
    """What one backtest run needs besides the source and the symbol."""

    start: pd.Timestamp
    end: pd.Timestamp
    strategy: str = "equity"
    signals: str = "rule"
    cash: float = 100_000.0
    commission: float = 0.0005  # fraction of traded value (5 bp), both ways
    #: the strategy's config (an instance of its ``StrategySpec.config_cls``); None = the
    #: config's defaults
    config: object = None
    #: options fills: 'natural' (cross bid/ask) or 'mid' (mid prices, ``option_slippage``
    #: dollars per share of the spread against the trader)
    option_fill: str = "natural"
    commission_per_contract: float = CONTRACT_COMMISSION
    option_slippage: float = 0.0
    record_lines: bool = True
    progress: bool = True
    #: also draw backtrader's own ``cerebro.plot()`` figure (``SymbolResult.plot_png``)
    plot: bool = False
    #: ``signals="ml"``: the fitted ``models.StrategyModel`` of each symbol, trained on bars
    #: before ``start`` only (run_symbol refuses one whose training window reaches it)
    signal_models: dict = field(default_factory=dict)

    def __post_init__(self):
        check_option_slippage(self.option_fill, self.option_slippage)


@dataclass
class SymbolResult:
    """Everything a report needs about one symbol's run."""

    symbol: str
    metrics: dict
    returns: pd.Series
    benchmark: pd.Series
    positions: pd.DataFrame
    transactions: pd.DataFrame
    trades: pd.DataFrame
    lines: pd.DataFrame
    bars: pd.DataFrame
    spreads: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: what the reader must know to trust the numbers (a shorter window than asked, a
    #: window shorter than the scoring horizon, rejected orders); the report writes them
    #: into metrics.json (``metrics`` keeps scalars, the columns of a sweep's table)
    warnings: list[str] = field(default_factory=list)
    #: backtrader's own figure of the run as PNG bytes (``BacktestSettings.plot``)
    plot_png: bytes | None = None


def load_window(source: MarketSource, symbol: str, start, end,
                warmup: int = WARMUP_SESSIONS) -> pd.DataFrame:
    """Bars from ``warmup`` sessions before the first traded session through ``end``.

    The first traded session is ``start``, or later when the source has fewer than
    ``warmup`` bars before ``start``: warm-up bars are never traded or scored, so a short
    history shortens the traded window (``traded_start`` says where it begins) instead of
    letting the indicators warm up inside it. Too few bars for warm-up plus two traded
    sessions is a DataError."""
    history = source.bars(symbol, None, end)
    requested = int(np.searchsorted(history.index, pd.Timestamp(start)))
    if len(history) - requested < 2:
        raise DataError(f"{symbol}: fewer than 2 bars between {start:%Y-%m-%d} and {end:%Y-%m-%d}; "
                        f"up to {end:%Y-%m-%d}, {source.name} has {symbol} from "
                        f"{history.index[0]:%Y-%m-%d} to {history.index[-1]:%Y-%m-%d}")
    first = max(requested, warmup)
    if len(history) - first < 2:
        raise DataError(f"{symbol}: {source.name} has {len(history)} bars of {symbol} from "
                        f"{history.index[0]:%Y-%m-%d} to {history.index[-1]:%Y-%m-%d}; "
                        f"the signal needs {warmup} sessions of warm-up before the first "
                        f"traded session and at least 2 traded sessions up to {end:%Y-%m-%d}")
    return history.iloc[first - warmup:]


def traded_start(bars: pd.DataFrame, warmup: int) -> pd.Timestamp:
    """The first traded session of a window from ``load_window``."""
    return bars.index[warmup]


def add_report_analyzers(cerebro: bt.Cerebro, record_lines: bool) -> None:
    """The analyzers every report reads (returns, Sharpe, drawdown, trades, pyfolio,
    positions, the trade list and, when asked, every indicator line): one list for the
    per-symbol and the portfolio backtest. ``pyfolio`` is backtrader's PyFolio less the
    positions and leverage nobody reads, its daily returns the ones ``sharpe`` computes
    anyway (``analyzers.pyfolio_items``)."""
    cerebro.addanalyzer(bt.analyzers.Returns, _name="returns")
    cerebro.addanalyzer(bt.analyzers.SharpeRatio, _name="sharpe", timeframe=bt.TimeFrame.Days,
                        annualize=True, riskfreerate=0.0)
    cerebro.addanalyzer(RunDrawDown, _name="drawdown")  # bt's DrawDown, computed at stop
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="tradeanalyzer")
    cerebro.addanalyzer(PyFolioItems, _name="pyfolio", returns_from="sharpe")
    cerebro.addanalyzer(PortfolioPositions, _name="portfolio")
    cerebro.addanalyzer(TradeList, _name="trades")
    if record_lines:
        cerebro.addanalyzer(LineRecorder, _name="lines")


def run_symbol(source: MarketSource, symbol: str, settings: BacktestSettings) -> SymbolResult:
    """Run the configured strategy on one symbol and collect analyzers' output."""
    symbol = source.check_symbol(symbol)
    signal_factory, warmup = signal_factory_for(symbol, settings)
    bars = load_window(source, symbol, settings.start, settings.end, warmup)
    requested = settings
    settings = replace(settings, start=traded_start(bars, warmup))
    spec = STRATEGIES[settings.strategy]
    config = spec.resolve_config(settings.config)
    if spec.trades_options:
        check_spreads_fit(symbol, config, settings.cash, float(bars["close"].iloc[warmup]))
    cerebro = RunCerebro(stdstats=False)
    cerebro.adddata(make_feed(bars, symbol))
    if spec.trades_options:
        cerebro.broker = OptionsBroker(chains={symbol: source.option_chain(symbol)},
                                       fill=settings.option_fill,
                                       slippage=settings.option_slippage,
                                       commission_per_contract=settings.commission_per_contract)
        cerebro.addanalyzer(SpreadTrades, _name="spreads")
    cerebro.broker.setcash(settings.cash)
    cerebro.broker.setcommission(commission=settings.commission)
    cerebro.addstrategy(
        spec.cls,
        config=config,
        signal_factory=signal_factory,
        trade_start=settings.start.date(),
    )
    add_report_analyzers(cerebro, settings.record_lines)
    if settings.progress:  # a disabled bar still costs a call on every bar
        cerebro.addanalyzer(BarProgress, total=len(bars), label=symbol)
    strategy = cerebro.run()[0]
    result = collect(symbol, strategy, bars, settings)
    result.warnings = (window_warnings(source.name, symbol, bars, warmup, requested, result)
                       + calendar_warnings(source, symbol, bars)
                       + horizon_warnings(config, result)
                       + idle_warnings(result, getattr(strategy, "skipped", []),
                                       getattr(strategy, "unacted", None))
                       + skipped_warnings(result, getattr(strategy, "skipped", []))
                       + open_only_warnings(result)
                       + ruin_warnings(result)
                       + rejection_warnings(getattr(strategy, "rejections", [])))
    if settings.plot:
        result.plot_png = backtrader_figure(strategy)
    result.metrics.update(requested_start=f"{requested.start:%Y-%m-%d}",
                          requested_end=f"{requested.end:%Y-%m-%d}")
    return result


def check_spreads_can_trade(source: MarketSource, symbol: str,
                            settings: BacktestSettings) -> None:
    """``run_symbol``'s width and account checks, before a signal model is trained for
    ``symbol``: a ``--signals ml`` run trained its model first, minutes of work for a run
    that could never size a spread. The first traded session is taken with the rule
    signal's warm-up: a model is trained on more history than its own warm-up before
    ``start``, so its run starts trading there too (``run_symbol`` checks again)."""
    spec = STRATEGIES[settings.strategy]
    if not spec.trades_options:
        return
    config = spec.resolve_config(settings.config)
    bars = load_window(source, source.check_symbol(symbol), settings.start, settings.end)
    check_spreads_fit(symbol, config, settings.cash, float(bars["close"].iloc[WARMUP_SESSIONS]))


def check_spreads_fit(symbol: str, config, cash: float, spot: float) -> None:
    """The spreads the config sells, at the first traded session's ``spot``: a width on
    the option chain's strike grid (``check_width``) that an account of ``cash`` can size
    one contract of (``check_sizing``); the single-symbol and the portfolio backtest refuse
    the same settings."""
    check_width(symbol, config.width, spot)
    check_sizing(symbol, config, cash, spot)


def check_sizing(symbol: str, config, cash: float, spot: float) -> None:
    """Refuse an account too small for one contract of the spreads the config sells (its
    ``width``, else the default width at the first traded session's ``spot``): sized by
    the account, every entry would be skipped, a silent 0.00 %."""
    from pricing.contracts import default_width

    refusal = config.sizing_refusal(cash, config.width or default_width(spot))
    if refusal:
        raise DataError(f"{symbol}: {refusal}")


def backtrader_figure(strategy) -> bytes:
    """backtrader's own ``cerebro.plot()`` figure of a finished run, drawn headless
    (``analyzers.bt_plot``), as PNG bytes the report writer saves."""
    import tempfile
    import warnings
    from pathlib import Path

    from analyzers.bt_plot import save_backtrader_plot

    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        # backtrader's date locator lacks matplotlib's newer intervals: harmless noise
        warnings.filterwarnings("ignore", message="AutoDateLocator was unable")
        path, = save_backtrader_plot([strategy], Path(folder) / "plot.png", dpi=80)
        return path.read_bytes()


def check_width(symbol: str, width: float | None, spot: float) -> None:
    """Refuse a spread width the option chain cannot list at the first traded session
    (every chain here lists strikes on ``pricing.contracts.strike_step``), instead of a run
    whose every order is rejected and that reports a silent 0.00 %."""
    from pricing.contracts import strike_step

    if width is None:
        return
    step = strike_step(spot)
    if width < step - 1e-9 or abs(width / step - round(width / step)) > 1e-9:
        raise DataError(f"{symbol}: --width {width:g} does not fit the option chain: at "
                        f"{spot:.2f} strikes are listed every {step:g}; use a multiple of "
                        f"{step:g}")


#: an end this many calendar days before the requested one is more than a weekend/holiday
_END_SLACK = pd.Timedelta(days=4)


def window_warnings(source_name: str, symbol: str, bars: pd.DataFrame, warmup: int,
                    requested: BacktestSettings, result, first_asked=None,
                    start_note: str = "", end_of: str | None = None) -> list[str]:
    """Where the window actually run differs from the one asked for, in words: trading
    began after ``first_asked`` (the first session at or after the requested start; of
    ``bars`` by default) because ``symbol``'s history warms the signal up first, or ended
    before the requested end at the last bar of ``end_of`` (default ``symbol``)."""
    out = []
    traded = result.returns.index
    if first_asked is None:
        first_asked = first_session_asked(bars, requested.start)
    if traded[0] > first_asked:
        out.append(f"traded from {traded[0]:%Y-%m-%d}, not {requested.start:%Y-%m-%d}: "
                   f"{source_name} has {symbol} from {bars.index[0]:%Y-%m-%d} and the first "
                   f"{warmup} sessions warm the signal up{start_note}")
    if requested.end - traded[-1] > _END_SLACK:
        out.append(f"traded until {traded[-1]:%Y-%m-%d}, not {requested.end:%Y-%m-%d}: the "
                   f"last bar {source_name} has for {end_of or symbol}")
    return out


def first_session_asked(bars: pd.DataFrame, start) -> pd.Timestamp:
    """The first bar at or after ``start`` (the last bar when none is)."""
    return bars.index[min(int(np.searchsorted(bars.index, start)), len(bars) - 1)]


def scored_calls(result) -> list[tuple[str, int]]:
    """``(prefix, calls)`` of each hit rate a result shows: one for a symbol's run, one per
    symbol (prefixed with it) for a portfolio's attribution."""
    attribution = getattr(result, "attribution", None)
    if attribution is not None and "signal_calls" in attribution:
        return [(f"{symbol}: ", int(calls))
                for symbol, calls in attribution["signal_calls"].dropna().items()]
    calls = result.metrics.get("signal_calls")
    return [] if calls is None else [("", int(calls))]


def horizon_warnings(config, result: SymbolResult) -> list[str]:
    """A window too short for what the numbers measure: the signal's scoring horizon, or
    (credit spreads) the days to expiry of the spreads it opens."""
    out = []
    sessions = len(result.returns)
    if sessions <= SCORING_HORIZON:
        out.append(f"only {sessions} traded sessions, not more than the {SCORING_HORIZON}-"
                   f"session horizon signals are scored over: no hit rate, and a Sharpe "
                   f"ratio or annual return of so few sessions means little")
    else:
        out += [f"{where}the hit rate is scored on only {calls} BUY/SELL call"
                f"{'s' if calls > 1 else ''} (the sessions whose {SCORING_HORIZON}-session "
                f"future falls in the window): an anecdote, not a rate" if calls else
                f"{where}the signal made no BUY/SELL call on the sessions whose "
                f"{SCORING_HORIZON}-session future falls in the window: no hit rate"
                for where, calls in scored_calls(result) if calls < MIN_HIT_CALLS]
    dte_min = getattr(config, "dte_min", None)
    days = (result.returns.index[-1] - result.returns.index[0]).days
    if dte_min is not None and days < dte_min:
        out.append(f"the window spans {days} day{'s' if days != 1 else ''}, fewer than "
                   f"--dte-min {dte_min}: no spread can reach expiry; spreads open at the "
                   f"end are marked to market")
    return out


def idle_warnings(result, skipped: list[str] = (), unacted: dict[str, int] | None = None
                  ) -> list[str]:
    """A run that filled no order at all: its 0.00 % is idle cash, not a result of the
    strategy, and must not read as one (a window or a history too short for the signal
    to call for a trade, thresholds never reached, every order rejected, every entry
    sized to nothing: ``skipped``, the strategy's reasons, counted with the first; calls
    met while flat that opened nothing: ``unacted``, counted by reason)."""
    if len(result.transactions):
        return []
    why = (f"; {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} sized to nothing, "
           f"the first: {skipped[0]}" if skipped else "")
    if unacted:
        calls = sum(unacted.values())
        why += (f"; a call opened nothing on {calls} session{'s' if calls != 1 else ''}: "
                + ", ".join(f"{n} {reason}" for reason, n in
                            sorted(unacted.items(), key=lambda item: -item[1])))
    return [f"no order filled in {len(result.returns)} traded sessions: the 0.00% return is "
            f"idle cash, not a result of the strategy{why}"]


def skipped_warnings(result, skipped: list[str] = ()) -> list[str]:
    """A run that traded but then sized entries to nothing (an account shrunk below one
    contract's full width, a risk cap that binds): the strategy stopped taking its signal
    without a word, so the count, the first and the last are said (``idle_warnings`` says
    it of a run that filled nothing)."""
    if not skipped or not len(result.transactions):
        return []
    last = re.search(r"(\d{4}-\d\d-\d\d)\W*$", skipped[-1])
    until = f"; the last on {last.group(1)}" if last and len(skipped) > 1 else ""
    return [f"{len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} sized to no contract "
            f"and skipped, the first: {skipped[0]}{until}"]


def calendar_warnings(source: MarketSource, symbol: str, bars: pd.DataFrame) -> list[str]:
    """The source's word on the bars a run read against the exchange calendar (a CSV's
    rows on non-sessions, its missing sessions); sources that follow the calendar say
    nothing."""
    check = getattr(source, "calendar_warnings", None)
    return check(symbol, bars.index) if check else []


def open_only_warnings(result) -> list[str]:
    """What a return owes to positions still open at the end (spreads, or shares long or
    short), which the trades and win-rate columns (closed trades) do not show: with no
    trade closed, all of the return; with some closed, their count, entries and unrealized
    P&L beside the closed ones (``open_positions_warnings``)."""
    if not result.metrics.get("open_trades"):
        return []
    if result.metrics.get("trades"):
        return open_positions_warnings(result)
    still, what = still_open(result)
    count = len(still)
    return [f"no trade closed: the {result.metrics['total_return']:.2%} return comes from "
            f"{count} {what}{'s' if count != 1 else ''} still open at the end (entered "
            f"{pd.Timestamp(still['entry_date'].min()):%Y-%m-%d}), whose unrealized P&L the "
            "trades and win-rate columns (closed trades) do not count"]


def still_open(result) -> tuple[pd.DataFrame, str]:
    """The rows of the positions still open at the end (spreads for a spread run, else
    share trades) and what to call one: 'spread', 'long position', 'short position' or,
    in one account holding both sides, 'position'."""
    spreads = len(result.spreads.columns) > 0
    rows = result.spreads if spreads else result.trades
    still = rows[rows["status"] == "open"]
    sides = set(still["side"]) if "side" in still else set()
    what = ("spread" if spreads else
            f"{sides.pop()} position" if len(sides) == 1 else "position")
    return still, what


def open_positions_warnings(result) -> list[str]:
    """Positions still open at the end of a run that closed some trades: they are in the
    return (a spread valued at mid, shares marked at the last close, with no cost to close:
    the broker's value), but not in the trades and win-rate columns, which count closed
    trades; said with their count, entries and P&L (the ``unrealized_pnl`` metric), not
    left to a figure's title or to trades.csv."""
    still, what = still_open(result)
    if still.empty:
        return []
    spreads = what == "spread"
    first, last = (f"{pd.Timestamp(d):%Y-%m-%d}" for d in (still["entry_date"].min(),
                                                           still["entry_date"].max()))
    entered = first if first == last else f"{first} to {last}"
    count = len(still)
    valued = "valued at mid" if spreads else "marked at the last close"
    pnl = still["pnl" if spreads else "pnl_net"].sum()
    return [f"{count} {what}{'s' if count != 1 else ''} still open at the end (entered "
            f"{entered}) {valued} with no cost to close: unrealized P&L {pnl:,.2f}, in the "
            f"{result.metrics['total_return']:.2%} return but not in the trades "
            f"({result.metrics['trades']}) and win-rate columns, which count closed "
            f"{'spreads' if spreads else 'trades'}"]


def rejection_warnings(rejections: list[str]) -> list[str]:
    """Orders the broker refused, counted, with the first reason."""
    if not rejections:
        return []
    return [f"{len(rejections)} order(s) rejected, the first: {rejections[0]}"]


def signal_factory_for(symbol: str, settings: BacktestSettings):
    """The indicator class (or partial) that makes the signal lines, and the warm-up
    sessions it needs before ``start``.

    An indicator class with ``needs_model = True`` takes ``model=`` (the fitted model of
    the symbol from ``settings.signal_models``); the model says through ``trained_until``
    the last session its training saw, which must come before ``start``."""
    indicator = SIGNALS[settings.signals]
    if not getattr(indicator, "needs_model", False):
        return indicator, WARMUP_SESSIONS
    model = settings.signal_models.get(symbol)
    if model is None:
        raise DataError(f"{symbol}: --signals {settings.signals} needs a trained model "
                        f"for {symbol}")
    trained_until = pd.Timestamp(model.trained_until)
    if trained_until >= settings.start:
        raise DataError(f"{symbol}: the model was trained on data up to "
                        f"{trained_until:%Y-%m-%d}, which overlaps the backtest starting "
                        f"{settings.start:%Y-%m-%d}")
    return (functools.partial(indicator, model=model),
            max(WARMUP_SESSIONS, model.warmup_bars + 5))


def buy_and_hold(close: pd.Series, settings: BacktestSettings) -> pd.Series:
    """Daily returns of holding the symbol from the first traded session's close, the
    moment the strategy could first decide (its own return that day is 0: an order fills
    at the next open), so both lines start from the same point."""
    return from_first_close(_in_window(close.pct_change().fillna(0.0), settings))


def from_first_close(daily: pd.Series) -> pd.Series:
    """``daily`` returns with the first one 0: bought at that session's close."""
    daily = daily.copy()
    if len(daily):
        daily.iloc[0] = 0.0
    return daily


def _in_window(series: pd.Series, settings: BacktestSettings) -> pd.Series:
    index = pd.DatetimeIndex(series.index).tz_localize(None).normalize()
    series = pd.Series(series.to_numpy(), index=index)
    return series[(index >= settings.start) & (index <= settings.end)]


def account_metrics(strategy, returns: pd.Series, benchmark: pd.Series,
                    cash: float) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The trades, the spreads and the metrics of one finished account (a symbol's or a
    portfolio's): performance, and the spreads' when the broker traded them."""
    an = strategy.analyzers
    trades = an.trades.get_analysis()
    metrics = performance_metrics(returns, benchmark, trades, strategy.broker.getvalue(), cash)
    spreads = pd.DataFrame()
    if hasattr(an, "spreads"):
        spreads = an.spreads.get_analysis()
        metrics.update(spread_metrics(spreads))
    return trades, spreads, metrics


def collect(symbol: str, strategy, bars: pd.DataFrame, settings: BacktestSettings) -> SymbolResult:
    """Turn the analyzers of a finished run into a SymbolResult with its metrics."""
    an = strategy.analyzers
    returns, share_transactions = an.pyfolio.returns_and_transactions()
    portfolio = an.portfolio.get_analysis()  # shares and option legs, pyfolio format
    positions = portfolio["positions"]
    transactions = merge_transactions(share_transactions, portfolio["transactions"])
    returns = _in_window(returns, settings)
    close = bars["close"]
    benchmark = buy_and_hold(close, settings)
    lines = an.lines.get_analysis() if settings.record_lines else pd.DataFrame()
    trades, spreads, metrics = account_metrics(strategy, returns, benchmark, settings.cash)
    metrics.update(signal_scores(lines, close, settings))
    metrics["backtrader"] = backtrader_metrics(an, settings.strategy)
    window = bars[(bars.index >= settings.start) & (bars.index <= settings.end)]
    return SymbolResult(symbol, metrics, returns, benchmark, positions, transactions,
                        trades, lines, window, spreads)


def spread_metrics(spreads: pd.DataFrame) -> dict:
    """Spread counts and P&L; ``trades``/``win_rate``/``unrealized_pnl`` count spreads for
    spread strategies."""
    closed = spreads[spreads["status"] == "closed"]
    return {
        "trades": int(len(closed)),
        "open_trades": int((spreads["status"] == "open").sum()),
        "win_rate": float((closed["pnl"] > 0).mean()) if len(closed) else None,
        "net_pnl_closed": float(closed["pnl"].sum()),
        "unrealized_pnl": float(spreads.loc[spreads["status"] == "open", "pnl"].sum()),
        "spread_unrealized_pnl": float(spreads.loc[spreads["status"] == "open", "pnl"].sum()),
        "spread_commissions": float(spreads["commission"].sum()),
    }


def performance_metrics(returns: pd.Series, benchmark: pd.Series, trades: pd.DataFrame,
                        final_value: float, cash: float) -> dict:
    """Return, risk and trade statistics over the scored window (empyrical's formulas on
    the window's ``daily_returns``; a figure that one daily return cannot give, its
    volatility, Sharpe and Sortino, is None: n/a; so are they once the account's value
    fell to 0 or below: each later daily return is one on a value of 0 or less, its sign
    flipped, which no ratio can read)."""
    closed = trades[trades["status"] == "closed"]
    wins = closed[closed["pnl_net"] > 0]
    daily = daily_returns(returns)
    fell_on = first_at_or_below_zero(returns)
    spread = len(daily) > 1 and fell_on is None
    # a loss of the whole account or more has no annual rate: empyrical raises a value at
    # or below 0 to 252 / days, nan for most windows, but a number for a whole number
    # (-0.18 ** 3 - 1: -100.58 % over 84 daily returns)
    ruined = final_value <= 0.0
    metrics = {
        "start": f"{returns.index[0]:%Y-%m-%d}",
        "end": f"{returns.index[-1]:%Y-%m-%d}",
        "sessions": int(len(returns)),
        "total_return": float(final_value / cash - 1.0),
        "annual_return": None if ruined else _finite(empyrical.annual_return(daily)),
        "annual_volatility": _finite(empyrical.annual_volatility(daily)) if spread else None,
        "sharpe": _finite(empyrical.sharpe_ratio(daily)) if spread else None,
        "sortino": _finite(empyrical.sortino_ratio(daily)) if spread else None,
        "max_drawdown": float(empyrical.max_drawdown(daily)),
        "benchmark_return": float((1.0 + benchmark).prod() - 1.0),
        "final_value": float(final_value),
        "trades": int(len(closed)),
        "open_trades": int((trades["status"] == "open").sum()),
        "win_rate": float(len(wins) / len(closed)) if len(closed) else None,
        "net_pnl_closed": float(closed["pnl_net"].sum()),
        # positions still open at the end: in the return, not in trades or win_rate
        "unrealized_pnl": float(trades.loc[trades["status"] == "open", "pnl_net"].sum()),
    }
    if fell_on is not None or ruined:
        metrics["account_at_or_below_zero_on"] = fell_on
    return metrics


def first_at_or_below_zero(returns: pd.Series) -> str | None:
    """The first session whose close left the account at 0 or below (its value relative to
    the start is the running product of 1 + the daily returns: each is value / the value
    before - 1, so the product telescopes, sign included)."""
    below = np.flatnonzero(np.cumprod(1.0 + returns.to_numpy(dtype=float)) <= 0.0)
    return f"{returns.index[below[0]]:%Y-%m-%d}" if len(below) else None


def ruin_warnings(result) -> list[str]:
    """Why an account that lost all its cash or more has no annual return, volatility,
    Sharpe or Sortino ratio (n/a)."""
    m = result.metrics
    fell_on = m.get("account_at_or_below_zero_on")
    ratios = ("volatility, Sharpe and Sortino n/a{}: the daily returns from then on are "
              "returns on a value of 0 or less")
    if m["final_value"] > 0.0:
        if fell_on is None:
            return []
        return [ratios.format("") + f" (the account's value fell to 0 or below on {fell_on}, "
                                    "a loss of the whole account, before it ended above 0)"]
    return [f"annual return n/a: the account's value fell to 0 or below on "
            f"{fell_on or m['end']} and ends at {m['final_value']:,.2f} "
            f"({m['total_return']:.2%}), a loss of the whole account or more, which has no "
            "annual rate; " + ratios.format(" too")]


def _finite(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def realized_direction(close: pd.Series, horizon: int = SCORING_HORIZON,
                       threshold: float = 0.01) -> pd.Series:
    """What happened next: +1 / -1 when the close ``horizon`` sessions later is more than
    ``threshold`` above / below today's, 0 otherwise, NaN where the future is unknown.
    Used only to score signals after the fact, never as an input."""
    future = close.shift(-horizon) / close - 1.0
    out = np.sign(future.where(future.abs() > threshold, 0.0))
    return out.where(future.notna())


def signal_scores(lines: pd.DataFrame, close: pd.Series, settings: BacktestSettings) -> dict:
    """Hit rate of BUY/SELL calls against the realized direction over SCORING_HORIZON."""
    column = next((c for c in lines.columns if c.endswith(".direction")), None)
    if lines.empty or column is None:
        return {}
    predicted = pd.Series(lines[column].to_numpy(),
                          index=pd.DatetimeIndex(pd.to_datetime(lines["date"])))
    actual = realized_direction(close).reindex(predicted.index)
    scored = (predicted.index >= settings.start) & actual.notna().to_numpy() & (predicted != 0)
    calls = predicted[scored]
    hits = (calls == actual[scored]).sum()
    return {"signal_calls": int(len(calls)),
            "signal_hit_rate": float(hits / len(calls)) if len(calls) else None}


def backtrader_metrics(an, strategy: str = "equity") -> dict:
    """The headline numbers of backtrader's own analyzers, over the whole run.

    backtrader's TradeAnalyzer counts share trades only: a credit-spread run trades none,
    so its ``trades_*`` figures would be zeros beside the spread count and are left out
    (the run's ``trades`` and ``win_rate`` count the spreads)."""
    figures = {
        "returns_rtot": float(an.returns.get_analysis().get("rtot", 0.0)),
        "sharpe_ratio": _finite(an.sharpe.get_analysis().get("sharperatio") or np.nan),
        "max_drawdown_pct": float(an.drawdown.get_analysis().max.drawdown),
    }
    if strategy == "credit-spread":
        return figures
    trade = an.tradeanalyzer.get_analysis()
    figures.update({
        "trades_total": int(trade.get("total", {}).get("total", 0)),
        "trades_won": int(trade.get("won", {}).get("total", 0)) if "won" in trade else 0,
        "trades_lost": int(trade.get("lost", {}).get("total", 0)) if "lost" in trade else 0,
    })
    return figures
