"""pyfolio's drawdown panels count the starting cash, as the summary's max drawdown does."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analyzers.pyfolio_drawdowns import drawdowns_from  # noqa: E402
from analyzers.report import quietly  # noqa: E402

with quietly():
    import pyfolio as pf

# the window's first session (its starting point, the cash) and three daily returns after
# it: the account falls 5 % on the first day, from the starting cash, and recovers later
SESSIONS = pd.bdate_range("2024-01-02", periods=40, tz="UTC")
DAILY = pd.Series([-0.05, 0.01] + [0.004] * 37, index=SESSIONS[1:])


def _underwater_low(fig) -> float:
    (ax,) = [a for a in fig.axes if a.get_title() == "Underwater plot"]
    return min(min(line.get_ydata()) for line in ax.lines)


def test_the_returns_tear_sheet_underwater_plot_starts_from_the_starting_cash():
    with quietly():
        shipped = pf.create_returns_tear_sheet(DAILY, return_fig=True)
        with drawdowns_from(SESSIONS[0]):
            ours = pf.create_returns_tear_sheet(DAILY, return_fig=True)
    try:
        # pyfolio as shipped takes the first day's close (0.95) as its first peak: the
        # 5 % fall from the cash never shows; from the start it is the deepest point
        assert _underwater_low(shipped) == pytest.approx(0.0)
        assert _underwater_low(ours) == pytest.approx(-5.0)
    finally:
        plt.close("all")


def test_the_top_drawdown_periods_panel_starts_at_the_cash():
    with drawdowns_from(SESSIONS[0]):
        ax = pf.plotting.plot_drawdown_periods(DAILY, top=1)
    plt.close("all")
    # the cumulative value drawn starts at the cash (1.0) on the first session, before
    # the first day's 5 % fall: the panel's top drawdown is measured from there
    (line,) = ax.lines
    assert len(line.get_ydata()) == len(SESSIONS)
    assert line.get_ydata()[:2] == pytest.approx([1.0, 0.95])


def test_returns_that_already_start_at_the_start_are_left_as_given():
    from analyzers.pyfolio_drawdowns import from_start

    with_start = pd.concat([pd.Series([0.0], index=SESSIONS[:1]), DAILY])
    assert from_start(with_start, SESSIONS[0]) is with_start
    pd.testing.assert_series_equal(from_start(DAILY, SESSIONS[0]), with_start,
                                   check_freq=False)


def test_the_reports_returns_tear_sheet_draws_drawdowns_from_the_cash(tmp_path, monkeypatch):
    """write_tearsheets, as a report runs it: the returns tear sheet of a window whose first
    day falls 5 % shows that fall in its underwater plot (pyfolio alone showed 0 there)."""
    from types import SimpleNamespace

    from analyzers import report

    days = SESSIONS.tz_localize(None)
    returns = pd.Series([0.0, *DAILY], index=days)
    result = SimpleNamespace(
        symbol="SPY", returns=returns, benchmark=returns * 0.0,
        positions=pd.DataFrame({"cash": 100_000.0 * (1.0 + returns).cumprod()}, index=days),
        transactions=pd.DataFrame(columns=["amount", "price", "symbol"],
                                  index=pd.DatetimeIndex([], tz="UTC")),
        spreads=pd.DataFrame())
    lows = []
    save = report._save

    def saved(fig, path, dpi=100):
        lows.append(_underwater_low(fig))
        return save(fig, path, dpi)

    monkeypatch.setattr(report, "_save", saved)
    report.write_tearsheets(result, tmp_path, sheets=report.TEARSHEETS[:1], stats=False)
    assert lows == [pytest.approx(-5.0)]
