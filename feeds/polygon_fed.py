"""Economic data from Polygon's ``/fed/v1`` endpoints: Treasury yields as the risk-free
rate, and the CPI release calendar.

* Treasury yields (percent, bond-equivalent, tenors from 1 month to 30 years, a tenor may be
  missing on a day) become continuously compounded decimals, ``2 * ln(1 + y / 2)``, the
  convention Black-Scholes uses. The curve of a day is published after that day's close, so
  the rate used on session t is the last curve dated **before** t (one session late, never
  early). Between tenors the rate is interpolated linearly; beyond them it is flat.
* ``/fed/v1/inflation`` is dated by the month a value describes, not by when it was
  published. CPI for month M comes out about two weeks after M ends; the release day is
  estimated as the first session on or after the 12th of M + 1 (the rule the sample market
  uses; the real day falls between the 10th and the 15th). A month missing from the data
  (a release that did not happen) gets no flag; months after the last one in the data get
  the estimated day, since release schedules are published in advance. The flag is a
  calendar fact, the CPI value itself is not used, so the estimate cannot leak a future value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.errors import DataError
from feeds.calendar import day64, sessions
from feeds.polygon_aggs import ChunkStore, span, year_chunks
from feeds.rate_limit import ApiError

TENOR_YEARS = {
    "yield_1_month": 1 / 12, "yield_3_month": 0.25, "yield_6_month": 0.5, "yield_1_year": 1.0,
    "yield_2_year": 2.0, "yield_3_year": 3.0, "yield_5_year": 5.0, "yield_7_year": 7.0,
    "yield_10_year": 10.0, "yield_20_year": 20.0, "yield_30_year": 30.0,
}
#: the tenor of the ``risk_free_rate`` column on bars
BAR_RATE_YEARS = 0.25
#: the yields (percent) a Treasury answer may hold: US bills and bonds have stayed between
#: about -0.1 % (2020-2021 bills) and 16 % (1981); a value outside these bounds is a unit
#: slip (basis points, a price) or a broken answer, and would price every option with it
YIELD_BOUNDS_PERCENT = (-5.0, 50.0)
CPI_RELEASE_DAY = 12


def fetch_treasury(client, lo, hi) -> pd.DataFrame:
    """Daily yields (percent) between ``lo`` and ``hi``, a column per tenor, NaN where the
    answer left a tenor out."""
    rows = list(client.list_treasury_yields(date_gte=f"{pd.Timestamp(lo):%Y-%m-%d}",
                                            date_lte=f"{pd.Timestamp(hi):%Y-%m-%d}",
                                            limit=50000, sort="date", order="asc"))
    frame = dated_rows(rows, tuple(TENOR_YEARS), "/fed/v1/treasury-yields")
    _check_yields(frame)
    return frame[~frame.index.duplicated(keep="last")].sort_index()


def _check_yields(frame: pd.DataFrame) -> None:
    """Refuse an answer holding a yield no Treasury ever paid (``YIELD_BOUNDS_PERCENT``):
    a 530 % rate was accepted and became every option's discount rate."""
    lo, hi = YIELD_BOUNDS_PERCENT
    values = frame.to_numpy(dtype=float)
    bad = np.argwhere(np.isfinite(values) & ((values < lo) | (values > hi)))
    if len(bad):
        row, column = bad[0]
        raise ApiError(f"Polygon answered /fed/v1/treasury-yields with "
                       f"{frame.columns[column]} = {values[row, column]:g} % on "
                       f"{frame.index[row]:%Y-%m-%d}, outside {lo:g} % to {hi:g} % (yields are "
                       "percent); the answer was not used", api="Polygon", status=200)


def dated_rows(rows, columns: tuple[str, ...], path: str) -> pd.DataFrame:
    """``columns`` of the client's rows as floats (NaN where missing or not a number) by
    their ``date``. A row without a readable date cannot be placed: an ``ApiError`` (it
    once made a NaT row that turned every rate of the run into NaN, in silence)."""
    dates = pd.to_datetime([getattr(r, "date", None) for r in rows], errors="coerce",
                           format="%Y-%m-%d")
    bad = np.flatnonzero(pd.isna(dates))
    if len(bad):
        raise ApiError(f"Polygon answered {path} with a row whose date is "
                       f"{getattr(rows[bad[0]], 'date', None)!r}; the answer was not used",
                       api="Polygon", status=200)
    def numbers(name: str) -> np.ndarray:
        values = pd.Series([getattr(r, name, None) for r in rows], dtype=object)
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)

    return pd.DataFrame({c: numbers(c) for c in columns},
                        index=pd.DatetimeIndex(dates, name="date"))


def treasury_yields(store: ChunkStore, client, start, end) -> pd.DataFrame:
    """Yields from ``start`` to ``end``, a cached chunk per calendar year."""
    pieces = [store.get(("polygon", "fed-treasury-yields", span(lo, hi)),
                        lambda lo=lo, hi=hi: fetch_treasury(client, lo, hi),
                        columns=tuple(TENOR_YEARS), dated=True)
              for lo, hi in year_chunks(start, end)]
    frame = pd.concat(pieces).sort_index() if pieces else pd.DataFrame(columns=list(TENOR_YEARS))
    return frame[~frame.index.duplicated(keep="last")]


class RateCurve:
    """The risk-free rate by date and horizon (see the module doc)."""

    def __init__(self, yields: pd.DataFrame):
        yields = yields.dropna(how="all").sort_index()
        if yields.empty:
            raise DataError("Polygon returned no Treasury yields for the requested dates")
        self.first = yields.index[0]
        self._dates = yields.index.values.astype("datetime64[D]")
        self._tenors = np.array(list(TENOR_YEARS.values()))
        percent = yields.reindex(columns=list(TENOR_YEARS)).ffill().to_numpy(dtype=float)
        self._curves = 2.0 * np.log1p(percent / 200.0)

    def _curve(self, day) -> tuple[np.ndarray, np.ndarray]:
        i = int(np.searchsorted(self._dates, day64(day))) - 1
        if i < 0:
            raise DataError(f"no Treasury yields published before {pd.Timestamp(day):%Y-%m-%d} "
                            f"(they start {self.first:%Y-%m-%d})")
        curve = self._curves[i]
        known = np.isfinite(curve)
        return self._tenors[known], curve[known]

    def rate(self, day, years) -> np.ndarray:
        """Continuously compounded rates on ``day`` for horizons ``years`` (array)."""
        tenors, curve = self._curve(day)
        return np.interp(np.asarray(years, dtype=float), tenors, curve)

    def daily(self, index: pd.DatetimeIndex, years: float = BAR_RATE_YEARS) -> pd.Series:
        """The rate of each session in ``index`` (NaN before the first published curve)."""
        out = np.full(len(index), np.nan)
        for i, day in enumerate(index):
            if day > self.first:
                out[i] = float(self.rate(day, years))
        return pd.Series(out, index=index, name="risk_free_rate")


def fetch_inflation(client, lo, hi) -> pd.DataFrame:
    """Monthly inflation rows (``cpi``, ``cpi_core``, ...) dated by the month described."""
    rows = list(client.list_inflation(date_gte=f"{pd.Timestamp(lo):%Y-%m-%d}",
                                      date_lte=f"{pd.Timestamp(hi):%Y-%m-%d}", limit=50000,
                                      sort="date.asc"))
    columns = ("cpi", "cpi_core", "cpi_year_over_year", "pce", "pce_core", "pce_spending")
    return dated_rows(rows, columns, "/fed/v1/inflation").sort_index()


def inflation(store: ChunkStore, client, start, end) -> pd.DataFrame:
    """Inflation rows from ``start`` to ``end``, a cached chunk per calendar year."""
    pieces = [store.get(("polygon", "fed-inflation", span(lo, hi)),
                        lambda lo=lo, hi=hi: fetch_inflation(client, lo, hi), dated=True)
              for lo, hi in year_chunks(start, end)]
    return pd.concat(pieces).sort_index() if pieces else pd.DataFrame()


def estimated_release(period) -> pd.Timestamp:
    """Estimated CPI release session for the month ``period`` describes (module doc)."""
    month = pd.Timestamp(period).to_period("M") + 1
    day = pd.Timestamp(month.year, month.month, CPI_RELEASE_DAY)
    return sessions(day, day + pd.Timedelta(days=10))[0]


def cpi_release_flags(periods: pd.DatetimeIndex, index: pd.DatetimeIndex) -> pd.Series:
    """1.0 on the sessions of ``index`` that are (estimated) CPI release days, else 0.0."""
    flags = pd.Series(0.0, index=index, name="cpi_release")
    if len(index) == 0:
        return flags
    months = pd.DatetimeIndex(periods).to_period("M")
    last = months.max() if len(months) else None
    first_month = (index[0] - pd.DateOffset(months=2)).to_period("M")
    for month in pd.period_range(first_month, index[-1].to_period("M"), freq="M"):
        if last is not None and month <= last and month not in months:
            continue  # no release for this month
        release = estimated_release(month.to_timestamp())
        if release in flags.index:
            flags.loc[release] = 1.0
    return flags
