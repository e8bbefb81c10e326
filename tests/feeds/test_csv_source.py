"""CSV bars: accepted layouts, adjusted-close scaling, and errors naming file and line."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from feeds.csv_source import CsvMarket, read_ohlcv_csv

GOOD_ROWS = [
    # date, open, high, low, close, adj close, volume
    ("2020-01-02", 100.0, 102.0, 99.0, 101.0, 50.5, 1000),
    ("2020-01-03", 101.0, 103.0, 100.0, 102.0, 51.0, 1100),
    ("2020-01-06", 102.0, 104.0, 101.0, 103.0, 51.5, 0),
    ("2020-01-07", 103.0, 105.0, 102.0, 104.0, 52.0, 1300),
]


def _write(path, header: str, rows) -> str:
    lines = [header] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _no_adj(rows):
    return [(d, o, h, lo, c, v) for d, o, h, lo, c, _, v in rows]


@pytest.mark.parametrize(
    "header",
    [
        "Date,Open,High,Low,Close,Adj Close,Volume",
        "date,open,high,low,close,adj close,volume",
        "DATE,OPEN,HIGH,LOW,CLOSE,ADJ CLOSE,VOLUME",
        "date,open,high,low,close,adj_close,volume",
    ],
)
def test_good_file_with_adjusted_close(tmp_path, header):
    path = _write(tmp_path / "spy.csv", header, GOOD_ROWS)
    frame = read_ohlcv_csv(path)
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert list(frame.index) == [pd.Timestamp(r[0]) for r in GOOD_ROWS]
    # adj close / close is 0.5 on every row: OHLC are halved, volume left alone
    np.testing.assert_allclose(frame["close"], [50.5, 51.0, 51.5, 52.0])
    np.testing.assert_allclose(frame["open"], [50.0, 50.5, 51.0, 51.5])
    np.testing.assert_allclose(frame["high"], [51.0, 51.5, 52.0, 52.5])
    np.testing.assert_allclose(frame["low"], [49.5, 50.0, 50.5, 51.0])
    np.testing.assert_array_equal(frame["volume"], [1000, 1100, 0, 1300])


def test_adjustment_factor_varies_by_row(tmp_path):
    rows = [
        ("2020-01-02", 100.0, 110.0, 90.0, 100.0, 25.0, 10),
        ("2020-01-03", 50.0, 55.0, 45.0, 50.0, 50.0, 10),
    ]
    frame = read_ohlcv_csv(_write(tmp_path / "x.csv", "Date,Open,High,Low,Close,Adj Close,Volume",
                                  rows))
    np.testing.assert_allclose(frame.loc["2020-01-02"].to_numpy(), [25.0, 27.5, 22.5, 25.0, 10])
    np.testing.assert_allclose(frame.loc["2020-01-03"].to_numpy(), [50.0, 55.0, 45.0, 50.0, 10])


@pytest.mark.parametrize(
    "header",
    ["Date,Open,High,Low,Close,Volume", "timestamp,o,h,l,c,v", " Date , Open , High , Low , "
                                                              "Close , Volume "],
)
def test_good_file_without_adjusted_close(tmp_path, header):
    path = _write(tmp_path / "qqq.csv", header, _no_adj(GOOD_ROWS))
    frame = read_ohlcv_csv(path)
    np.testing.assert_allclose(frame["close"], [101.0, 102.0, 103.0, 104.0])
    np.testing.assert_allclose(frame["open"], [100.0, 101.0, 102.0, 103.0])
    assert frame.index.name == "date"
    assert frame.index.is_monotonic_increasing


def test_timestamps_are_normalized_to_dates(tmp_path):
    rows = [("2020-01-02 16:00:00", 1, 2, 0.5, 1.5, 10), ("2020-01-03 16:00:00", 1, 2, 0.5, 1.5, 10)]
    frame = read_ohlcv_csv(_write(tmp_path / "t.csv", "Date,Open,High,Low,Close,Volume", rows))
    assert list(frame.index) == [pd.Timestamp("2020-01-02"), pd.Timestamp("2020-01-03")]


# --- bad input: DataError naming the file and the line (header is line 1) ------------------

HEADER = "Date,Open,High,Low,Close,Volume"


def _rows_with(index: int, **changes):
    rows = [list(r) for r in _no_adj(GOOD_ROWS)]
    names = ["date", "open", "high", "low", "close", "volume"]
    for name, value in changes.items():
        rows[index][names.index(name)] = value
    return rows


BAD_CASES = {
    "unparseable_date": (_rows_with(2, date="2020-13-45"), 4, "date"),
    "text_date": (_rows_with(1, date="yesterday"), 3, "date"),
    "duplicate_date": (_rows_with(2, date="2020-01-03"), 4, "duplicate"),
    "unsorted_dates": (_rows_with(3, date="2020-01-01"), 5, "order"),
    "empty_price": (_rows_with(1, close=""), 3, "Close"),
    "nan_text_price": (_rows_with(2, open="nan"), 4, "Open"),
    "text_price": (_rows_with(0, high="abc"), 2, "High"),
    "zero_price": (_rows_with(3, low=0), 5, "non-positive"),
    "negative_price": (_rows_with(1, close=-5), 3, "non-positive"),
    "high_below_low": (_rows_with(2, high=100.5, low=101.5), 4, "below"),
    "negative_volume": (_rows_with(3, volume=-10), 5, "negative"),
    "empty_volume": (_rows_with(1, volume=""), 3, "Volume"),
}


@pytest.mark.parametrize("case", list(BAD_CASES), ids=list(BAD_CASES))
def test_bad_file_reports_file_and_line(tmp_path, case):
    rows, line, word = BAD_CASES[case]
    path = _write(tmp_path / f"bad_{case}.csv", HEADER, rows)
    with pytest.raises(DataError) as info:
        read_ohlcv_csv(path)
    message = str(info.value)
    assert path.name in message
    assert f"line {line}:" in message
    assert word.lower() in message.lower()


def test_error_reports_first_bad_line_of_many(tmp_path):
    rows = _rows_with(1, close=-1.0)
    rows[3][4] = -2.0
    path = _write(tmp_path / "two_bad.csv", HEADER, rows)
    with pytest.raises(DataError, match="line 3:"):
        read_ohlcv_csv(path)


def test_line_numbers_beyond_the_first_rows(tmp_path):
    days = pd.bdate_range("2020-01-01", periods=40)
    rows = [(f"{d:%Y-%m-%d}", 10, 11, 9, 10, 100) for d in days]
    rows[36] = (rows[36][0], 10, 11, 9, 10, -1)
    path = _write(tmp_path / "long.csv", HEADER, rows)
    with pytest.raises(DataError, match=r"line 38:"):
        read_ohlcv_csv(path)


def test_short_row_reports_its_line(tmp_path):
    path = tmp_path / "short_row.csv"
    path.write_text(HEADER + "\n2020-01-02,1,2,0.5,1.5,10\n2020-01-03,1,2,0.5,1.5\n")
    with pytest.raises(DataError, match=r"short_row\.csv: line 3:.*Volume"):
        read_ohlcv_csv(path)


def test_windows_line_endings_and_byte_order_mark(tmp_path):
    path = tmp_path / "excel.csv"
    body = HEADER + "\r\n2020-01-02,1,2,0.5,1.5,10\r\n2020-01-03,1,2,0.5,-1.5,10\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    with pytest.raises(DataError, match=r"excel\.csv: line 3:"):
        read_ohlcv_csv(path)
    path.write_bytes(b"\xef\xbb\xbf" + body.replace("-1.5", "1.5").encode())
    assert len(read_ohlcv_csv(path)) == 2


def test_line_number_after_a_blank_line(tmp_path):
    path = tmp_path / "blank_line.csv"
    path.write_text(HEADER + "\n2020-01-02,1,2,0.5,1.5,10\n\n2020-01-03,1,2,0.5,1.5,10\n"
                    "2020-01-06,1,2,0.5,-1.5,10\n")
    with pytest.raises(DataError) as info:
        read_ohlcv_csv(path)
    reported = int(re.search(r"line (\d+):", str(info.value)).group(1))
    # the named line must be the offending one: the bad row (line 5), or the blank line
    # itself (line 3) should a reader choose to refuse blank lines
    named_line = path.read_text().splitlines()[reported - 1]
    assert named_line == "" or "-1.5" in named_line, (reported, named_line)


@pytest.mark.parametrize("missing", ["Volume", "Close", "Date"])
def test_missing_column_is_named(tmp_path, missing):
    columns = HEADER.split(",")
    keep = [i for i, c in enumerate(columns) if c != missing]
    rows = [[row[i] for i in keep] for row in _no_adj(GOOD_ROWS)]
    path = _write(tmp_path / "short.csv", ",".join(columns[i] for i in keep), rows)
    with pytest.raises(DataError) as info:
        read_ohlcv_csv(path)
    message = str(info.value)
    assert path.name in message
    named = re.search(r"missing column\(s\) ([^;]*);", message)
    assert named is not None, message
    assert named.group(1).strip().lower() == missing.lower()


@pytest.mark.parametrize("header, named", [
    ("Date,Open,High,Low,Close,close,Volume", "'Close' and 'close' are both close"),
    ("date,open,high,low,close,close,volume", "'close' and 'close.1' are both close"),
])
def test_a_column_written_twice_is_refused_not_one_picked(tmp_path, header, named):
    path = tmp_path / "twice.csv"
    path.write_text(f"{header}\n2019-01-02,1,2,0.5,1.5,1.6,100\n")
    with pytest.raises(DataError, match=f"twice.csv: columns {named}"):
        read_ohlcv_csv(path)


def test_header_only_file_raises(tmp_path):
    path = tmp_path / "empty_rows.csv"
    path.write_text(HEADER + "\n")
    with pytest.raises(DataError, match="empty_rows.csv"):
        read_ohlcv_csv(path)


# --- CsvMarket -----------------------------------------------------------------------------

def test_folder_mode_lists_symbols_and_serves_bars(tmp_path):
    _write(tmp_path / "spy.csv", "Date,Open,High,Low,Close,Adj Close,Volume", GOOD_ROWS)
    _write(tmp_path / "Qqq.CSV", HEADER, _no_adj(GOOD_ROWS))
    (tmp_path / "notes.txt").write_text("not a csv")
    market = CsvMarket(tmp_path)
    assert sorted(market.symbols()) == ["QQQ", "SPY"]
    spy = market.bars("spy")
    np.testing.assert_allclose(spy["close"], [50.5, 51.0, 51.5, 52.0])
    assert {"atm_iv", "risk_free_rate"} <= set(spy.columns)
    assert (spy["risk_free_rate"] == 0.02).all()
    assert (spy["atm_iv"] >= 0.05).all()
    qqq = market.bars("QQQ", start="2020-01-03", end="2020-01-06")
    assert list(qqq.index) == [pd.Timestamp("2020-01-03"), pd.Timestamp("2020-01-06")]
    with pytest.raises(DataError, match="SPY"):
        market.bars("IWM")
    with pytest.raises(DataError):
        market.bars("SPY", start="2021-01-01")


def test_single_file_mode(tmp_path):
    path = _write(tmp_path / "aapl.csv", HEADER, _no_adj(GOOD_ROWS))
    market = CsvMarket(path)
    assert market.symbols() == ["AAPL"]
    assert len(market.bars("AAPL")) == len(GOOD_ROWS)


def test_bad_file_in_folder_raises_on_bars(tmp_path):
    _write(tmp_path / "good.csv", HEADER, _no_adj(GOOD_ROWS))
    bad = _write(tmp_path / "bad.csv", HEADER, _rows_with(2, close=0))
    market = CsvMarket(tmp_path)
    assert len(market.bars("GOOD")) == len(GOOD_ROWS)
    with pytest.raises(DataError, match=bad.name):
        market.bars("BAD")


def test_csv_option_chain_prices(tmp_path):
    days = pd.bdate_range("2021-03-01", periods=60)
    closes = 100 * np.exp(np.cumsum(np.full(len(days), 0.001)))
    rows = [(f"{d:%Y-%m-%d}", c, c * 1.01, c * 0.99, c, 1_000_000) for d, c in zip(days, closes,
                                                                                   strict=True)]
    _write(tmp_path / "abc.csv", HEADER, rows)
    market = CsvMarket(tmp_path)
    frame = market.option_chain("ABC").chain(days[-1])
    assert len(frame) > 0
    assert (frame["bid"] <= frame["ask"]).all()
    assert frame["symbol"].str.startswith("ABC").all()


def test_nonexistent_path_raises(tmp_path):
    with pytest.raises(DataError, match="does-not-exist"):
        CsvMarket(tmp_path / "does-not-exist")


def test_empty_folder_raises(tmp_path):
    (tmp_path / "readme.txt").write_text("no csv here")
    with pytest.raises(DataError, match="no .csv"):
        CsvMarket(tmp_path)


# --- exports users really have (issue 18) -------------------------------------------------

SESSIONS = pd.bdate_range("2021-02-22", periods=40)  # spans the March DST change


def _daily(path, dates: list[str], tail: str = ""):
    rows = [f"{d},100,101,99,100.5,1000" for d in dates]
    path.write_text("date,open,high,low,close,volume\n" + "\n".join(rows) + "\n" + tail)
    return path


def test_timestamps_with_utc_offsets_across_dst_are_dated_in_new_york(tmp_path):
    offset = lambda d: "-05:00" if d < pd.Timestamp("2021-03-14") else "-04:00"  # noqa: E731
    path = _daily(tmp_path / "x.csv", [f"{d:%Y-%m-%d} 00:00:00{offset(d)}" for d in SESSIONS])
    assert list(read_ohlcv_csv(path).index) == list(SESSIONS)


def test_an_offset_that_crosses_midnight_keeps_the_exchange_date(tmp_path):
    """A close stamped in UTC (21:00Z) is still that New York session."""
    path = _daily(tmp_path / "x.csv", [f"{d:%Y-%m-%d}T21:00:00Z" for d in SESSIONS])
    assert list(read_ohlcv_csv(path).index) == list(SESSIONS)


@pytest.mark.parametrize("stamp", ["{d:%Y-%m-%d} 00:00:00+00:00", "{d:%Y-%m-%d}T00:00:00Z",
                                   "{d:%Y-%m-%d}T00:00:00.000+0000"])
def test_daily_bars_stamped_at_midnight_utc_keep_their_written_date(tmp_path, stamp):
    """pandas and yfinance write a date as midnight UTC: in New York that is 19:00 the day
    before, which would move every bar (Mondays to Sundays) a day early."""
    path = _daily(tmp_path / "x.csv", [stamp.format(d=d) for d in SESSIONS])
    assert list(read_ohlcv_csv(path).index) == list(SESSIONS)


@pytest.mark.parametrize("layout", ["{d:%m-%d-%Y}", "{d:%d-%m-%Y}", "{d:%d.%m.%Y}",
                                    "{d:%m.%d.%Y}"])
def test_dates_with_dashes_or_dots_read_month_or_day_first(tmp_path, layout):
    """01-02-2021 is not a date with a -2021 UTC offset; 02.01.2021 is day first when only
    that reading gives ascending dates."""
    path = _daily(tmp_path / "x.csv", [layout.format(d=d) for d in SESSIONS])
    assert list(read_ohlcv_csv(path).index) == list(SESSIONS)


def test_day_first_dates_are_read_when_only_that_reading_is_valid(tmp_path):
    path = _daily(tmp_path / "x.csv", [f"{d:%d/%m/%Y}" for d in SESSIONS])
    assert list(read_ohlcv_csv(path).index) == list(SESSIONS)
    us = _daily(tmp_path / "us.csv", [f"{d:%m/%d/%Y}" for d in SESSIONS])
    assert list(read_ohlcv_csv(us).index) == list(SESSIONS)


def test_slash_dates_that_read_neither_way_name_both_reasons(tmp_path):
    path = _daily(tmp_path / "x.csv", ["01/02/2021", "01/02/2021", "13/13/2021"])
    with pytest.raises(DataError, match=r"as mm/dd/yyyy .* as dd/mm/yyyy line 4"):
        read_ohlcv_csv(path)


def test_minute_bars_are_refused_as_intraday_not_as_duplicates(tmp_path):
    path = _daily(tmp_path / "x.csv", [f"2021-03-01 09:3{m}:00" for m in range(5)])
    with pytest.raises(DataError, match=r"line 3: '2021-03-01 09:31:00' is a second bar of "
                                        r"2021-03-01 .*daily bars"):
        read_ohlcv_csv(path)


def test_trailing_whitespace_lines_are_not_rows(tmp_path):
    path = _daily(tmp_path / "x.csv", [f"{d:%Y-%m-%d}" for d in SESSIONS], tail="   \n\t\n")
    assert len(read_ohlcv_csv(path)) == len(SESSIONS)


@pytest.mark.parametrize("row, message", [
    ("2021-03-01,100,101,99,101.5,1000", "line 3: close 101.5 is above high 101"),
    ("2021-03-01,100,101,99,98.5,1000", "line 3: close 98.5 is below low 99"),
    ("2021-03-01,102,101,99,100,1000", "line 3: open 102 is above high 101"),
])
def test_open_or_close_outside_the_days_range_is_refused(tmp_path, row, message):
    path = tmp_path / "x.csv"
    path.write_text("date,open,high,low,close,volume\n2021-02-26,100,101,99,100,1\n"
                    f"{row}\n")
    with pytest.raises(DataError, match=re.escape(message)):
        read_ohlcv_csv(path)


def test_two_files_of_one_symbol_in_a_folder_are_refused(tmp_path):
    for name in ("good.csv", "GOOD.csv"):
        _daily(tmp_path / name, [f"{d:%Y-%m-%d}" for d in SESSIONS])
    with pytest.raises(DataError, match="GOOD.csv and good.csv are the same symbol GOOD"):
        CsvMarket(tmp_path)


def test_rows_off_the_nyse_calendar_and_missing_sessions_are_said_not_changed(tmp_path):
    """Nothing is dropped or filled, but a Saturday row and a missing week are warned, with
    the first of each; a file on the calendar says nothing."""
    from feeds.calendar import sessions

    listed = sessions("2023-06-01", "2023-10-31")
    dates = listed[(listed != "2023-06-15") & ~((listed >= "2023-09-11") &
                                                (listed <= "2023-09-15"))]
    dates = dates.append(pd.DatetimeIndex(["2023-07-08"])).sort_values()
    _daily(tmp_path / "GAP.csv", [f"{d:%Y-%m-%d}" for d in dates])
    _daily(tmp_path / "OK.csv", [f"{d:%Y-%m-%d}" for d in listed])
    market = CsvMarket(tmp_path)
    gap = market.bars("GAP")
    assert len(gap) == len(dates)  # as written
    assert market.calendar_warnings("GAP", gap.index) == [
        "GAP.csv: 1 row(s) on days NYSE did not trade, taken as sessions (the first "
        "2023-07-08, a Saturday)",
        "GAP.csv: 6 NYSE session(s) have no row between 2023-06-01 and 2023-10-31 (the "
        "first 2023-06-15); indicators count bars, not days, across them"]
    assert market.calendar_warnings("OK", market.bars("OK").index) == []
