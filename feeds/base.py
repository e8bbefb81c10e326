"""The contract every market source honours, and the column names the rest of the code reads.

A source hands out one pandas DataFrame of daily bars per symbol, indexed by session date
(tz-naive, normalized, ascending, unique), with at least ``open high low close volume``.
Extra columns (``EXTRA_COLUMNS``) are optional; a source that does not have one leaves it
out and the backtrader feed shows NaN for that line. ``true_regime`` is ground truth that
only the simulated market knows: tests and reports may read it, strategies never see it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import pandas as pd

from core.errors import DataError

OHLCV = ("open", "high", "low", "close", "volume")

#: Columns a source may add to its bars; each becomes a line of ``feeds.MarketData``.
EXTRA_COLUMNS = (
    "call_volume",
    "put_volume",
    "put_call_ratio",
    "option_volume_ratio",
    "call_premium",
    "put_premium",
    "unusual_score",
    "dark_pool_ratio",
    "open_interest",
    "atm_iv",
    "call_iv",
    "put_iv",
    "iv_skew",
    "risk_free_rate",
    "cpi_release",
    "consumer_confidence_release",
)

class MarketSource(ABC):
    """Where bars and option chains come from (sample, bundled, csv, polygon)."""

    #: short name used on the command line (``--source NAME``)
    name: str = ""

    @abstractmethod
    def symbols(self) -> list[str]:
        """Symbols this source can serve."""

    @abstractmethod
    def bars(self, symbol: str, start=None, end=None) -> pd.DataFrame:
        """Daily bars for ``symbol`` between ``start`` and ``end`` inclusive."""

    @abstractmethod
    def option_chain(self, symbol: str):
        """An ``feeds.chain.OptionChain`` for ``symbol`` (quotes by date), or None."""

    def chain_digest(self, symbol: str) -> str | None:
        """A digest of the stored option-chain data ``option_chain(symbol)`` reads, for a
        source whose chains can change under its name (Polygon's cache, refreshed); None
        for chains modelled from the source's own bars and seed by our code, which a sweep's
        run key already covers."""
        return None

    def limit_expiries(self, dte_min: int, dte_max: int) -> None:  # noqa: B027 - optional hook
        """The days-to-expiry window the strategy can pick from, so a source that downloads
        chains fetches only those expiries. Modelled chains hold every expiry: no-op."""

    def describe(self) -> str:
        """One line for the run header: what this source is and whether prices are real."""
        return self.name

    def check_symbol(self, symbol: str) -> str:
        """Return the canonical symbol or raise DataError listing what is available."""
        canonical = symbol.upper()
        if canonical not in self.symbols():
            raise DataError(
                f"unknown symbol {symbol!r} for source {self.name!r}; "
                f"available: {', '.join(self.symbols())}"
            )
        return canonical


def clip_dates(frame: pd.DataFrame, start=None, end=None) -> pd.DataFrame:
    """A copy of the rows of ``frame`` between ``start`` and ``end`` (inclusive; None means
    open), so callers never edit a source's own frame."""
    if start is not None:
        frame = frame.loc[frame.index >= pd.Timestamp(start)]
    if end is not None:
        frame = frame.loc[frame.index <= pd.Timestamp(end)]
    return frame.copy()


def bars_between(frame: pd.DataFrame, start, end, missing: str,
                 covers: str = "it covers") -> pd.DataFrame:
    """``clip_dates``, refusing an empty answer with DataError
    ``"<missing> between <start> and <end>; <covers> <first>..<last>"`` (the window in
    ``window_words``) so a window outside the data names what the data does cover."""
    out = clip_dates(frame, start, end)
    if out.empty:
        raise DataError(f"{missing} {window_words(start, end)}; "
                        f"{covers} {frame.index[0]:%Y-%m-%d}..{frame.index[-1]:%Y-%m-%d}")
    return out


def window_words(start, end) -> str:
    """A window of dates in words for messages ("between 2024-01-02 and 2024-06-28", "up
    to 2001-01-01"; None is an open end), days only, never a midnight time."""
    first = None if start is None else f"{pd.Timestamp(start):%Y-%m-%d}"
    last = None if end is None else f"{pd.Timestamp(end):%Y-%m-%d}"
    if first and last:
        return f"between {first} and {last}"
    if first or last:
        return f"from {first}" if first else f"up to {last}"
    return "at all"
