"""A portfolio backtest: every symbol a data feed of one cerebro, one broker, one cash.

This is how a paper run on IB trades several symbols (``engine.account`` assembles both),
so the same strategy on the same bars places the same orders here and there: sizes follow
the account's value, the spreads of all symbols share the options broker's margin and the
strategy's ``max_portfolio_risk``. The default backtest (``engine.backtest.run_symbol``)
still runs each symbol alone with the full cash.

Calendars: each symbol keeps its own sessions. On a date some symbol has no bar (another
exchange's holiday, a gap in a CSV) backtrader shows that symbol's last bar, never a later
one; the strategies trade a symbol only on its own new bars (``fresh_datas``) and an order
fills on the symbol's next bar, so nothing is filled from the future.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import backtrader as bt
import pandas as pd

from analyzers import BarProgress
from analyzers.attribution import SymbolPnL
from analyzers.portfolio import merge_transactions
from analyzers.spread_trades import SpreadTrades
from brokers.options_broker import OptionsBroker
from core.errors import DataError
from engine.account import one_account
from engine.backtest import (
    BacktestSettings,
    _in_window,
    account_metrics,
    add_report_analyzers,
    backtrader_metrics,
    buy_and_hold,
    calendar_warnings,
    check_spreads_fit,
    first_session_asked,
    from_first_close,
    horizon_warnings,
    idle_warnings,
    load_window,
    open_only_warnings,
    rejection_warnings,
    ruin_warnings,
    signal_factory_for,
    signal_scores,
    skipped_warnings,
    traded_start,
    window_warnings,
)
from feeds.base import MarketSource
from feeds.btfeed import make_feed
from strategies.registry import STRATEGIES

#: the name of the account in summaries, reports and result tables
PORTFOLIO = "PORTFOLIO"


class SymbolSignals:
    """A ``signal_factory`` that builds each feed's indicator with that symbol's own factory
    (``--signals ml`` has a model per symbol)."""

    def __init__(self, factories: dict):
        self.factories = factories

    def __call__(self, data):
        return self.factories[data._name](data)


@dataclass
class PortfolioResult:
    """Everything a report needs about one account trading several symbols.

    ``returns``, ``positions`` (every symbol's shares and option legs, and cash) and
    ``transactions`` are the account's, in pyfolio's formats; ``attribution`` has a row per
    symbol (its P&L, its contribution = P&L / starting cash, trades, spreads); ``pnl`` is
    each symbol's cumulative P&L per session, ``correlation`` that of their daily P&L."""

    symbols: list[str]
    metrics: dict
    returns: pd.Series
    benchmark: pd.Series
    positions: pd.DataFrame
    transactions: pd.DataFrame
    trades: pd.DataFrame
    spreads: pd.DataFrame
    lines: pd.DataFrame
    bars: dict
    attribution: pd.DataFrame
    pnl: pd.DataFrame
    correlation: pd.DataFrame
    symbol: str = PORTFOLIO
    rejections: list = field(default_factory=list)
    #: what the reader must know to trust the numbers (as ``SymbolResult.warnings``)
    warnings: list[str] = field(default_factory=list)


def run_portfolio(source: MarketSource, symbols: list[str],
                  settings: BacktestSettings) -> PortfolioResult:
    """Run the configured strategy on all ``symbols`` in one account with ``settings.cash``.

    Each symbol warms up on its own bars before ``start``; trading starts on the first
    session every symbol is warm (the latest of their traded starts)."""
    symbols = [source.check_symbol(s) for s in symbols]
    twice = sorted({s for s in symbols if symbols.count(s) > 1})
    if twice:
        raise DataError(f"{', '.join(twice)}: given twice; one account holds each symbol once")
    factories, bars, warmups = {}, {}, {}
    first_traded = []
    spec = STRATEGIES[settings.strategy]
    config = spec.resolve_config(settings.config)
    for symbol in symbols:
        factories[symbol], warmup = signal_factory_for(symbol, settings)
        warmups[symbol] = warmup
        bars[symbol] = load_window(source, symbol, settings.start, settings.end, warmup)
        first_traded.append(traded_start(bars[symbol], warmup))
        if spec.trades_options:  # as a single-symbol run: a width off the grid is refused
            spot = float(bars[symbol]["close"].iloc[warmup])
            check_spreads_fit(symbol, config, settings.cash, spot)
    requested, settings = settings, replace(settings, start=max(first_traded))
    if spec.trades_options:
        broker = OptionsBroker(chains={s: source.option_chain(s) for s in symbols},
                               fill=settings.option_fill,
                               slippage=settings.option_slippage,
                               commission_per_contract=settings.commission_per_contract)
    else:
        broker = bt.brokers.BackBroker()
    broker.setcash(settings.cash)
    broker.setcommission(commission=settings.commission)
    feeds = {symbol: make_feed(bars[symbol], symbol) for symbol in symbols}
    cerebro = one_account(feeds, broker, spec, settings.config, SymbolSignals(factories),
                          settings.start.date())
    add_analyzers(cerebro, settings, spec.trades_options,
                  total=len(set().union(*(b.index for b in bars.values()))))
    strategy = cerebro.run()[0]
    result = collect_portfolio(symbols, strategy, bars, settings)
    result.warnings = (portfolio_window_warnings(source.name, bars, warmups, requested, result)
                       + [w for s in symbols for w in calendar_warnings(source, s, bars[s])]
                       + horizon_warnings(config, result)
                       + idle_warnings(result, getattr(strategy, "skipped", []),
                                       getattr(strategy, "unacted", None))
                       + skipped_warnings(result, getattr(strategy, "skipped", []))
                       + open_only_warnings(result)
                       + ruin_warnings(result)
                       + rejection_warnings(result.rejections))
    return result


def portfolio_window_warnings(source_name: str, bars: dict, warmups: dict,
                              requested: BacktestSettings, result) -> list[str]:
    """Where the account's window differs from the one asked for (``window_warnings``): it
    trades from the first session every symbol is warm, so the latest symbol sets the
    start; and until the last bar any symbol has."""
    late = {s: b.index[warmups[s]] for s, b in bars.items()}
    latest = max(late, key=late.get)
    asked = min(first_session_asked(b, requested.start) for b in bars.values())
    return window_warnings(
        source_name, latest, bars[latest], warmups[latest], requested, result,
        first_asked=asked,
        start_note="; one account trades from the first session every symbol is warm",
        end_of=f"any of {', '.join(bars)}")


def add_analyzers(cerebro: bt.Cerebro, settings: BacktestSettings, spreads: bool,
                  total: int) -> None:
    """The analyzers of a single-symbol run, plus each symbol's P&L (``SymbolPnL``)."""
    if spreads:
        cerebro.addanalyzer(SpreadTrades, _name="spreads")
    add_report_analyzers(cerebro, settings.record_lines)
    cerebro.addanalyzer(SymbolPnL, _name="attribution")
    if settings.progress:  # a disabled bar still costs a call on every bar
        cerebro.addanalyzer(BarProgress, total=total, label=PORTFOLIO)


def equal_weight_benchmark(bars: dict, settings: BacktestSettings) -> pd.Series:
    """Daily returns of holding the symbols in equal parts, rebalanced every session (the
    mean of their daily returns), on the union of their sessions;
    a symbol without a bar on a date keeps its last close (a return of 0 that day); bought
    at the first traded session's close, as ``buy_and_hold``."""
    closes = pd.DataFrame({s: b["close"] for s, b in bars.items()}).sort_index().ffill()
    daily = closes.pct_change().fillna(0.0).mean(axis=1)
    return from_first_close(_in_window(daily, settings))


def collect_portfolio(symbols: list[str], strategy, bars: dict,
                      settings: BacktestSettings) -> PortfolioResult:
    """Turn the analyzers of a finished portfolio run into a ``PortfolioResult``."""
    an = strategy.analyzers
    returns, share_transactions = an.pyfolio.returns_and_transactions()
    holdings = an.portfolio.get_analysis()
    transactions = merge_transactions(share_transactions, holdings["transactions"])
    returns = _in_window(returns, settings)
    benchmark = equal_weight_benchmark(bars, settings)
    trades, spreads, metrics = account_metrics(strategy, returns, benchmark, settings.cash)
    metrics["backtrader"] = backtrader_metrics(an, settings.strategy)
    lines = pd.DataFrame()
    if settings.record_lines:
        # a symbol without a bar on a date shows its last bar again: keep each bar once
        lines = an.lines.get_analysis().drop_duplicates(["date", "symbol"], ignore_index=True)
    pnl = an.attribution.get_analysis()
    pnl = pnl[(pnl.index >= settings.start) & (pnl.index <= settings.end)]
    # each session's P&L after the first close, the window's starting point (nothing is
    # held before it: its own 0 is not a day, as for the account's daily returns)
    daily = pnl.diff().iloc[1:]
    window = {s: b[(b.index >= settings.start) & (b.index <= settings.end)]
              for s, b in bars.items()}
    attribution = symbol_attribution(symbols, pnl, trades, spreads, lines, bars, settings)
    positions = holdings["positions"]
    if len(positions):
        days = positions.index.tz_localize(None)
        positions = positions[(days >= settings.start) & (days <= settings.end)]
    return PortfolioResult(
        symbols=symbols, metrics=metrics, returns=returns, benchmark=benchmark,
        positions=positions, transactions=transactions, trades=trades,
        spreads=spreads, lines=lines, bars=window, attribution=attribution, pnl=pnl,
        correlation=daily.corr(), rejections=list(getattr(strategy, "rejections", [])))


def symbol_attribution(symbols: list[str], pnl: pd.DataFrame, trades: pd.DataFrame,
                       spreads: pd.DataFrame, lines: pd.DataFrame, bars: dict,
                       settings: BacktestSettings) -> pd.DataFrame:
    """One row per symbol: its P&L and contribution (P&L / the account's starting cash),
    its closed trades (spreads for spread strategies) and win rate, its signal hit rate
    and its own buy & hold return over the window (``bars``: each symbol's loaded bars)."""
    rows = {}
    for symbol in symbols:
        final = float(pnl[symbol].iloc[-1]) if len(pnl) else 0.0
        if len(spreads.columns):
            own, pnl_column = spreads[spreads["underlying"] == symbol], "pnl"
        else:
            own, pnl_column = trades[trades["symbol"] == symbol], "pnl_net"
        closed = own[own["status"] == "closed"]
        close = bars[symbol]["close"]
        scores = {}
        if len(lines):
            scores = signal_scores(lines[lines["symbol"] == symbol], close, settings)
        held = buy_and_hold(close, settings)
        rows[symbol] = {
            "pnl": final,
            "contribution": final / settings.cash,
            "trades": int(len(closed)),
            "open_trades": int((own["status"] == "open").sum()),
            "win_rate": float((closed[pnl_column] > 0).mean()) if len(closed) else None,
            "signal_hit_rate": scores.get("signal_hit_rate"),
            "signal_calls": scores.get("signal_calls"),
            "benchmark_return": float((1.0 + held).prod() - 1.0),
        }
    return pd.DataFrame.from_dict(rows, orient="index")

