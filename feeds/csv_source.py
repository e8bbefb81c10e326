"""Daily bars from CSV files: one file per symbol, or a folder of ``SYMBOL.csv`` files.

Accepts the common OHLCV layouts (``date, open, high, low, close, [adj close], volume``,
any case, a few usual spellings), ISO or ``mm/dd/yyyy`` dates (``dd/mm/yyyy`` when the
file can only be read that way), and timestamps with UTC offsets (a DST-spanning export
mixes -05:00 and -04:00), which are read as instants and dated in the exchange's time zone.
Bad input is refused with an error naming the file and line: unparseable dates, intraday
timestamps (this source takes daily bars), duplicate or unsorted dates, NaN or
non-positive prices, high < low, an open or close outside the day's high-low range,
negative or missing volume, missing columns, a column written twice. Blank lines at the end of the file are
ignored; nothing else is dropped or filled.
When an adjusted close is present, open/high/low/close are scaled by ``adj close / close``
so splits and dividends do not look like price jumps; volume is left as it is.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import DataError
from feeds.base import OHLCV, MarketSource, bars_between
from feeds.chain import ModelledChains, OptionChain
from feeds.volatility import implied_volatility_estimate

COLUMN_ALIASES = {
    "date": ("date", "datetime", "timestamp", "time", "day"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c", "last"),
    "adj_close": ("adj close", "adj_close", "adjclose", "adjusted close", "adjusted_close",
                  "adj. close"),
    "volume": ("volume", "vol", "v"),
}


def _column_map(header: list[str], path: Path) -> dict[str, str]:
    """The file's column for each field; a field written twice (``Close`` and ``close``, or
    ``close`` twice, which pandas reads as ``close`` and ``close.1``) is refused by name:
    which one holds the prices cannot be guessed."""
    normalized: dict[str, list[str]] = {}
    for h in header:
        key = h.strip().lower()
        base = re.sub(r"\.\d+$", "", key)  # pandas' name for a repeated header
        normalized.setdefault(key, []).append(h)
        if base != key and base in normalized:
            normalized[base].append(h)
    found, missing = {}, []
    for name, spellings in COLUMN_ALIASES.items():
        matches = next((normalized[s] for s in spellings if s in normalized), None)
        if matches is not None and len(matches) > 1:
            raise DataError(f"{path}: columns {' and '.join(map(repr, matches))} are both "
                            f"{name.replace('_', ' ')}; keep one of them")
        match = matches[0] if matches else None
        if match is not None:
            found[name] = match
        elif name != "adj_close":
            missing.append(name)
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; "
                        f"found {', '.join(header)}")
    return found


def _first_bad(mask: np.ndarray) -> int | None:
    bad = np.flatnonzero(mask)
    return int(bad[0]) if len(bad) else None


#: a date with the day and month first, in either order, the year last: 01/02/2019,
#: 01-02-2019, 02.01.2019 (the same separator twice)
_SLASH_DATE = r"^\d{1,2}([/.-])\d{1,2}\1\d{4}$"
#: a UTC offset (or Z) after a time of day: only then is a trailing "-2019" not a year
_TIME_OFFSET = r"(?<=\d:\d\d)(:\d\d(?:\.\d+)?)?\s*(?:[+-]\d{2}:?\d{2}|Z)$"


def _drop_trailing_blank_rows(raw: pd.DataFrame) -> pd.DataFrame:
    """Whitespace-only lines at the end of a file are an editor's leftovers, not rows."""
    blank = raw.apply(lambda column: column.str.strip() == "").all(axis=1).to_numpy()
    end = len(raw)
    while end > 0 and blank[end - 1]:
        end -= 1
    return raw.iloc[:end]


def _parse_dates(text: pd.Series, path: Path) -> pd.DatetimeIndex:
    """Session dates (tz-naive) from the date column, or a DataError naming the line.

    A stamp with a UTC offset is read at its wall time in its own offset: a daily bar is
    the calendar date written, whether an export stamps it at midnight UTC
    (``2019-01-02 00:00:00+00:00``, which New York time would move to the day before), at
    midnight New York time, or at the close in UTC (``2019-01-02T21:00:00Z``)."""
    if len(text) and text.str.fullmatch(_SLASH_DATE).all():
        return _parse_slash_dates(text, path)
    wall = text.str.replace(_TIME_OFFSET, r"\1", regex=True)  # keeps the seconds
    dates = pd.to_datetime(wall, errors="coerce", format="mixed")
    i = _first_bad(dates.isna().to_numpy())
    if i is not None:
        raise DataError(f"{path}: line {i + 2}: unparseable date {text.iloc[i]!r}")
    return pd.DatetimeIndex(dates)


def _parse_slash_dates(text: pd.Series, path: Path) -> pd.DatetimeIndex:
    """``mm/dd/yyyy`` (the US export) unless only ``dd/mm/yyyy`` reads as valid, ascending
    dates (likewise with ``-`` or ``.`` between them, as European exports write
    ``02.01.2019``); a file that reads neither way is refused with both reasons."""
    attempts = {}
    sep = re.match(_SLASH_DATE, text.iloc[0]).group(1)
    for layout, fmt in ((f"mm{sep}dd{sep}yyyy", f"%m{sep}%d{sep}%Y"),
                        (f"dd{sep}mm{sep}yyyy", f"%d{sep}%m{sep}%Y")):
        dates = pd.to_datetime(text, errors="coerce", format=fmt)
        bad = _first_bad(dates.isna().to_numpy())
        if bad is not None:
            attempts[layout] = f"line {bad + 2} ({text.iloc[bad]!r}) is not a {layout} date"
        elif not (np.diff(dates.values) > np.timedelta64(0)).all():
            attempts[layout] = "the dates are not strictly ascending read that way"
        else:
            return pd.DatetimeIndex(dates)
    (us, us_why), (eu, eu_why) = attempts.items()
    raise DataError(f"{path}: cannot read the dates: as {us} {us_why}; as {eu} {eu_why}")


def read_ohlcv_csv(path: str | Path) -> pd.DataFrame:
    """Parse and validate one CSV file into a bars frame indexed by date."""
    path = Path(path)
    if not path.is_file():  # a folder named *.csv, a dangling link
        raise DataError(f"{path}: not a file (a folder, or a link to nothing)")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True,
                          skip_blank_lines=False)  # keeps line numbers true
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from exc
    columns = _column_map(list(raw.columns), path)
    if raw.empty:
        raise DataError(f"{path}: no rows")
    line = lambda i: i + 2  # noqa: E731 -- the header is line 1

    raw = _drop_trailing_blank_rows(raw)
    text_dates = raw[columns["date"]].str.strip()
    stamps = _parse_dates(text_dates, path)
    dates = stamps.normalize()
    same_day = (np.diff(dates.values) == np.timedelta64(0)) & \
        (np.diff(stamps.values) != np.timedelta64(0))
    i = _first_bad(same_day)
    if i is not None:
        raise DataError(f"{path}: line {line(i + 1)}: {text_dates.iloc[i + 1]!r} is a second "
                        f"bar of {dates[i]:%Y-%m-%d} (after {text_dates.iloc[i]!r} on line "
                        f"{line(i)}): the CSV source takes daily bars, one row per session; "
                        "resample intraday bars to daily first")

    steps = np.diff(dates.values)
    i = _first_bad(steps == np.timedelta64(0))
    if i is not None:
        raise DataError(f"{path}: line {line(i + 1)}: duplicate date {dates[i + 1]:%Y-%m-%d} "
                        f"(also on line {line(i)})")
    i = _first_bad(steps < np.timedelta64(0))
    if i is not None:
        raise DataError(f"{path}: line {line(i + 1)}: dates not in ascending order "
                        f"({dates[i + 1]:%Y-%m-%d} after {dates[i]:%Y-%m-%d})")
    # a bar dated after tomorrow is a typo (2924 for 2024), not data: no session is there
    tomorrow = pd.Timestamp.now().normalize() + pd.Timedelta(days=1)
    i = _first_bad(dates > tomorrow)
    if i is not None:
        raise DataError(f"{path}: line {line(i)}: date {text_dates.iloc[i]!r} is in the "
                        "future")

    values = {}
    for name in ("open", "high", "low", "close", "adj_close", "volume"):
        if name not in columns:
            continue
        text = raw[columns[name]].str.strip()
        number = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
        i = _first_bad(~np.isfinite(number))
        if i is not None:
            raise DataError(f"{path}: line {line(i)}: {columns[name]} is not a number "
                            f"({text.iloc[i]!r})")
        limit_ok = number >= 0 if name == "volume" else number > 0
        i = _first_bad(~limit_ok)
        if i is not None:
            kind = "negative" if name == "volume" else "non-positive"
            raise DataError(f"{path}: line {line(i)}: {kind} {columns[name]} {number[i]:g}")
        values[name] = number
    i = _first_bad(values["high"] < values["low"])
    if i is not None:
        raise DataError(f"{path}: line {line(i)}: high {values['high'][i]:g} is below "
                        f"low {values['low'][i]:g}")
    for name in ("open", "close"):
        tolerance = 1e-9 * values["high"]
        i = _first_bad(values[name] > values["high"] + tolerance)
        if i is not None:
            raise DataError(f"{path}: line {line(i)}: {columns[name]} {values[name][i]:g} "
                            f"is above high {values['high'][i]:g}")
        i = _first_bad(values[name] < values["low"] - tolerance)
        if i is not None:
            raise DataError(f"{path}: line {line(i)}: {columns[name]} {values[name][i]:g} "
                            f"is below low {values['low'][i]:g}")

    frame = pd.DataFrame({k: values[k] for k in OHLCV}, index=pd.DatetimeIndex(dates, name="date"))
    if "adj_close" in values:
        factor = values["adj_close"] / values["close"]
        for name in ("open", "high", "low", "close"):
            frame[name] = frame[name] * factor
    return frame


class CsvMarket(ModelledChains, MarketSource):
    """Bars from CSV files; option chains priced from a realized-volatility estimate and a
    constant risk-free rate (``risk_free_rate``, default 2 %)."""

    name = "csv"

    def __init__(self, path: str | Path, risk_free_rate: float = 0.02, seed: int = 7):
        self.path = Path(path)
        if not self.path.exists():
            raise DataError(f"CSV path {self.path} does not exist")
        if self.path.is_dir():
            files = sorted(p for p in self.path.iterdir() if p.suffix.lower() == ".csv")
            if not files:
                raise DataError(f"{self.path}: folder holds no .csv files")
        else:
            files = [self.path]
        self.files: dict[str, Path] = {}
        for file in files:
            clash = self.files.get(file.stem.upper())
            if clash is not None:
                raise DataError(f"{self.path}: {clash.name} and {file.name} are the same "
                                f"symbol {file.stem.upper()}; keep one of them")
            self.files[file.stem.upper()] = file
        self.risk_free_rate = risk_free_rate
        self.seed = seed
        self._frames: dict[str, pd.DataFrame] = {}
        self._chains: dict[str, OptionChain] = {}

    def symbols(self) -> list[str]:
        return list(self.files)

    def describe(self) -> str:
        return f"csv: {self.path} (option chains priced by model from realized volatility)"

    def calendar_warnings(self, symbol: str, dates: pd.DatetimeIndex) -> list[str]:
        """What a run over ``dates`` (the bars of ``symbol`` it reads) must know of the
        file against the NYSE calendar: rows on days NYSE did not trade (taken as sessions)
        and sessions with no row (indicators count bars, not days, across them). Nothing
        is dropped or filled; outside the calendar's span nothing is said."""
        from feeds.calendar import sessions

        days = pd.DatetimeIndex(dates).normalize()
        if days.empty:
            return []
        try:
            listed = sessions(days[0], days[-1])
        except ValueError:  # before or after the calendar's span
            return []
        name, out = self.files[self.check_symbol(symbol)].name, []
        extra, missing = days.difference(listed), listed.difference(days)
        if len(extra):
            out.append(f"{name}: {len(extra)} row(s) on days NYSE did not trade, taken as "
                       f"sessions (the first {extra[0]:%Y-%m-%d}, a {extra[0]:%A})")
        if len(missing):
            out.append(f"{name}: {len(missing)} NYSE session(s) have no row between "
                       f"{days[0]:%Y-%m-%d} and {days[-1]:%Y-%m-%d} (the first "
                       f"{missing[0]:%Y-%m-%d}); indicators count bars, not days, across them")
        return out

    def bars(self, symbol: str, start=None, end=None) -> pd.DataFrame:
        symbol = self.check_symbol(symbol)
        if symbol not in self._frames:
            frame = read_ohlcv_csv(self.files[symbol])
            frame["atm_iv"] = implied_volatility_estimate(frame["close"])
            frame["risk_free_rate"] = self.risk_free_rate
            self._frames[symbol] = frame
        return bars_between(self._frames[symbol], start, end, f"{self.files[symbol]}: no bars",
                            covers="the file covers")

