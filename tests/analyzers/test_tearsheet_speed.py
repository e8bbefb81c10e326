"""The faster tear sheets draw the same figures as pyfolio as shipped (issue 16)."""

from __future__ import annotations

import contextlib
import io
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analyzers.tearsheet_speed import cached_date_ticks, faster_tearsheets, rolling_beta  # noqa: E402


@pytest.fixture(scope="module")
def pf():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pyfolio

    return pyfolio


def _returns(n: int = 320, seed: int = 3) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2021-01-04", periods=n, tz="UTC")
    market = pd.Series(rng.normal(0.0004, 0.01, n), index=index, name="SPY buy & hold")
    strategy = pd.Series(0.6 * market.to_numpy() + rng.normal(0, 0.004, n), index=index)
    strategy.iloc[::7] = 0.0  # flat days, as a strategy out of the market has
    return strategy, market


@pytest.mark.parametrize("window", [126, 252])
def test_rolling_beta_is_pyfolios_loop(pf, window):
    strategy, market = _returns()
    strategy.iloc[200:205] = np.nan  # a gap in the strategy's returns, masked as empyrical does
    ours = rolling_beta(strategy, market, rolling_window=window)
    theirs = pf.timeseries.rolling_beta(strategy, market, rolling_window=window)
    assert ours.index.equals(theirs.index)
    assert ours.isna().equals(theirs.isna()) and ours.notna().sum() == len(strategy) - window
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-10, atol=1e-12)


def test_rolling_beta_of_a_constant_market_is_nan_as_in_empyrical(pf):
    strategy, market = _returns(n=200)
    market.iloc[:] = 0.001  # no variance: empyrical answers NaN, not inf
    assert rolling_beta(strategy, market, rolling_window=126).isna().all()
    assert pf.timeseries.rolling_beta(strategy, market, rolling_window=126).isna().all()


def test_rolling_beta_on_other_dates_falls_back_to_pyfolio(pf):
    strategy, market = _returns(n=200)
    shifted = market.iloc[3:]
    ours = rolling_beta(strategy, shifted, rolling_window=126)
    theirs = pf.timeseries.rolling_beta(strategy, shifted, rolling_window=126)
    pd.testing.assert_series_equal(ours, theirs)


def _date_axis_ticks(cached: bool):
    strategy, _ = _returns(n=1256)
    with cached_date_ticks() if cached else contextlib.nullcontext():
        fig, axes = plt.subplots(3, 1, sharex=True)
        for ax in axes:
            strategy.cumsum().plot(ax=ax)
        fig.canvas.draw()
        ticks = [(list(ax.get_xticks()), [t.get_text() for t in ax.get_xticklabels()])
                 for ax in axes]
    plt.close(fig)
    return ticks


def test_cached_date_ticks_give_the_same_ticks_and_labels():
    plain = _date_axis_ticks(cached=False)
    assert any(labels for _, labels in plain) and any(any(lab) for _, labels in plain
                                                      for lab in labels)
    assert _date_axis_ticks(cached=True) == plain


def _figure_contents(fig) -> list:
    """What each panel shows: title, labels, tick labels, every line's and patch's data
    (not pixels)."""
    panels = []
    for ax in fig.axes:
        panels.append({
            "title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
            "xticks": [t.get_text() for t in ax.get_xticklabels()],
            "rotations": [t.get_rotation() for t in ax.get_xticklabels() + ax.get_yticklabels()],
            "yticks": [t.get_text() for t in ax.get_yticklabels()],
            "lines": [np.asarray(line.get_xydata(), dtype=float) for line in ax.get_lines()],
            "patches": [np.asarray(p.get_path().vertices, dtype=float) for p in ax.patches],
            "texts": [t.get_text() for t in ax.texts],
        })
    return panels


def _returns_sheet(pf, fast: bool) -> list:
    strategy, market = _returns()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with faster_tearsheets() if fast else contextlib.nullcontext():
            fig = pf.create_returns_tear_sheet(strategy, benchmark_rets=market, return_fig=True)
            fig.canvas.draw()
            contents = _figure_contents(fig)
    plt.close(fig)
    return contents


def test_the_returns_tear_sheet_shows_the_same_data_in_every_panel(pf):
    shipped, fast = _returns_sheet(pf, fast=False), _returns_sheet(pf, fast=True)
    assert len(fast) == len(shipped) > 10
    beta_panels = [i for i, p in enumerate(shipped)
                   if p["title"].startswith("Rolling portfolio beta")]
    assert len(beta_panels) == 1 and len(shipped[beta_panels[0]]["lines"]) >= 2
    for ours, theirs in zip(fast, shipped, strict=True):
        for key in ("title", "xlabel", "ylabel", "xticks", "yticks", "rotations", "texts"):
            assert ours[key] == theirs[key], (theirs["title"], key)
        for kind in ("lines", "patches"):
            assert len(ours[kind]) == len(theirs[kind]), (theirs["title"], kind)
            for a, b in zip(ours[kind], theirs[kind], strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, equal_nan=True)


def test_outside_the_block_pyfolio_and_matplotlib_are_as_shipped(pf):
    from matplotlib import dates
    from pandas.plotting._matplotlib import tools
    from pandas.plotting._matplotlib.converter import DatetimeConverter
    from seaborn import matrix

    def shipped():
        return (pf.timeseries.rolling_beta, dates.AutoDateLocator.__call__,
                DatetimeConverter._convert_1d, matrix._draw_figure,
                tools._remove_labels_from_axis)

    before = shipped()
    with faster_tearsheets():
        assert pf.timeseries.rolling_beta is rolling_beta
        assert all(now is not then for now, then in zip(shipped(), before, strict=True))
    assert shipped() == before


def _saved_png(tmp_path, name: str, frozen: bool) -> bytes:
    from analyzers.tearsheet_speed import freeze_ticks

    strategy, _ = _returns(n=400)
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True)
    (1 + strategy).cumprod().plot(ax=top, logy=True)
    (strategy * 1e6).plot(ax=bottom)  # large values: a y axis with an offset text
    if frozen:
        freeze_ticks(fig)
    fig.savefig(tmp_path / name, dpi=50, bbox_inches="tight")
    plt.close(fig)
    return (tmp_path / name).read_bytes()


def test_frozen_ticks_save_the_same_picture(tmp_path):
    assert _saved_png(tmp_path, "frozen.png", True) == _saved_png(tmp_path, "plain.png", False)


def test_aware_dates_convert_to_the_numbers_pandas_gives():
    from matplotlib import dates
    from pandas.plotting._matplotlib.converter import DatetimeConverter

    from analyzers.tearsheet_speed import utc_dates_as_naive

    index = pd.bdate_range("2021-01-04", periods=300, tz="America/New_York") + pd.Timedelta("9h")
    for values in (index, np.asarray(index), pd.Series(index), np.asarray(index[:1])):
        plain = DatetimeConverter.convert(values, None, None)
        with utc_dates_as_naive():
            fast = DatetimeConverter.convert(values, None, None)
        np.testing.assert_array_equal(fast, plain)
    assert plain[0] == dates.date2num(index[0].tz_convert("UTC").tz_localize(None))


def _shared_panels(tmp_path, name: str, once: bool, reset: bool) -> tuple[bytes, list]:
    """pandas plots onto three panels sharing x (each plot hides the tick labels of the
    upper panels again); ``reset`` rebuilds the top panel's ticks between two plots."""
    from analyzers.tearsheet_speed import shared_labels_hidden_once

    strategy, market = _returns(n=300)
    with shared_labels_hidden_once() if once else contextlib.nullcontext():
        fig, axes = plt.subplots(3, 1, sharex=True)
        strategy.cumsum().plot(ax=axes[0])
        market.cumsum().plot(ax=axes[1])
        if reset:
            axes[0].xaxis.set_tick_params(reset=True)
        (strategy - market).cumsum().plot(ax=axes[2])
        market.plot(ax=axes[0])
        fig.savefig(tmp_path / name, dpi=50, bbox_inches="tight")
        shown = [len(ax.xaxis.get_majorticklabels()) for ax in axes]
    plt.close(fig)
    return (tmp_path / name).read_bytes(), shown


@pytest.mark.parametrize("reset", [False, True])
def test_shared_labels_hidden_once_save_the_same_picture(tmp_path, reset):
    """Skipping panels whose labels pandas already hid draws the same bytes, and a panel
    whose ticks were rebuilt in between is hidden again, as pandas does."""
    png, shown = _shared_panels(tmp_path, "once.png", once=True, reset=reset)
    assert (png, shown) == _shared_panels(tmp_path, "plain.png", once=False, reset=reset)
    assert shown[0] == shown[1] == 0 and shown[2] > 2  # labels on the bottom panel only
