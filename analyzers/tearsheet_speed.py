"""The same pyfolio tear sheets, drawn in a fraction of the time (issue 16).

Two costs made a symbol's report slower than its backtest, and neither changes a pixel when
removed:

* pyfolio's ``timeseries.rolling_beta`` runs one ``empyrical.beta`` (a pandas concat and
  alignment) per day of the series, twice (6- and 12-month windows): about a quarter of the
  returns tear sheet. :func:`rolling_beta` computes the same formula on every window at once
  with numpy.
* pandas' date converter turns a time-zone-aware index into an array of ``Timestamp``
  objects and back each time matplotlib converts a line's dates (30 ms for 5 years, about
  40 times a report); pyfolio's series are in UTC. :func:`utc_dates_as_naive` hands it
  the same instants without the zone (what matplotlib computes from anyway: it turns every
  aware date into naive UTC), 10 times faster, the same numbers.
* matplotlib's ``AutoDateLocator`` rebuilds a dateutil ``rrule`` and walks it each time a
  date axis asks for its ticks, and pyfolio's shared date axes ask thousands of times for
  the same view limits (pandas hides shared labels, seaborn's heatmap draws the whole
  figure, ``bbox_inches="tight"`` draws it twice). :func:`cached_date_ticks` answers a
  repeated question from a cache: same view limits and settings, same ticks.

* seaborn's heatmap (pyfolio's monthly returns) draws the whole figure, a dozen panels,
  to learn whether its own month labels overlap. :func:`heatmap_draws_its_own_axes`
  draws only the heatmap's panel for that question.
* pandas hides the tick labels of every panel sharing its x axis with a lower one after
  each of its plot calls, on every panel of the figure: pyfolio plots through pandas 15
  times onto a 17-panel figure, and each hiding computes the panel's ticks to reach their
  labels (about a third of the returns tear sheet). :func:`shared_labels_hidden_once`
  skips a panel whose labels are already hidden.

:func:`faster_tearsheets` switches them on for the duration of a ``with`` block only;
outside it pyfolio and matplotlib are untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from unittest import mock

import numpy as np
import pandas as pd
from matplotlib import dates as mdates


def rolling_beta(returns: pd.Series, factor_returns, rolling_window: int = 126) -> pd.Series:
    """pyfolio's ``timeseries.rolling_beta``, vectorised: the value at day ``t`` is
    ``empyrical.beta`` of the ``rolling_window + 1`` days ending at ``t`` (pyfolio slices
    ``loc[beg:end]`` with both ends included), NaN before.

    empyrical's formula: the factor is masked where the strategy's return is missing,
    beta = mean(x_res * y) / mean(x_res ** 2) with x_res the factor minus its mean, and a
    variance under 1e-30 gives NaN. Any case pyfolio's own loop would treat differently
    (a factor on other dates, a DataFrame of factors, a non-unique index) goes to it."""
    if (not isinstance(factor_returns, pd.Series) or not returns.index.is_unique
            or not returns.index.is_monotonic_increasing
            or not factor_returns.index.equals(returns.index)):
        return _pyfolio_rolling_beta()(returns, factor_returns, rolling_window=rolling_window)
    out = pd.Series(index=returns.index, dtype="float64")
    if len(returns) <= rolling_window:
        return out
    window = rolling_window + 1
    y = np.lib.stride_tricks.sliding_window_view(returns.to_numpy(dtype=float), window)
    x = np.lib.stride_tricks.sliding_window_view(factor_returns.to_numpy(dtype=float), window)
    with np.errstate(invalid="ignore", divide="ignore"), _quiet_nanmean():
        independent = np.where(np.isnan(y), np.nan, x)
        residual = independent - np.nanmean(independent, axis=1, keepdims=True)
        covariance = np.nanmean(residual * y, axis=1)
        variance = np.nanmean(residual ** 2, axis=1)
        variance[variance < 1.0e-30] = np.nan
        out.iloc[rolling_window:] = covariance / variance
    return out


def _pyfolio_rolling_beta():
    """pyfolio's own loop (the one :func:`faster_tearsheets` replaces while it runs)."""
    from pyfolio import timeseries

    return _PYFOLIO["rolling_beta"] if "rolling_beta" in _PYFOLIO else timeseries.rolling_beta


_PYFOLIO: dict = {}  # pyfolio's functions as they were before faster_tearsheets patched them


@contextlib.contextmanager
def _quiet_nanmean() -> Iterator[None]:
    """A window with no strategy return is NaN, as in empyrical; numpy warns about it."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@contextlib.contextmanager
def cached_date_ticks() -> Iterator[None]:
    """Inside the block, an ``AutoDateLocator`` (pandas' subclass included) asked for the
    ticks of view limits it has already answered returns the same ticks from a cache.

    The answer depends only on the view limits, the locator's class and its settings (time
    zone, min/max ticks, intervals); those are the key. ``get_locator`` also records the
    chosen frequency on the locator, which its ``AutoDateFormatter`` reads to format the
    labels, so a cache hit restores it too."""
    real_call = mdates.AutoDateLocator.__call__
    answers: dict[tuple, tuple[np.ndarray, int]] = {}

    def call(self):
        try:
            key = (type(self), tuple(self.axis.get_view_interval()), str(self.tz),
                   self.minticks, repr(self.maxticks), self.interval_multiples,
                   repr(self.intervald))
        except (AttributeError, TypeError):
            return real_call(self)
        if key not in answers:
            ticks = real_call(self)
            answers[key] = (np.array(ticks, copy=True), self._freq)
        ticks, self._freq = answers[key]
        return ticks.copy()

    with mock.patch.object(mdates.AutoDateLocator, "__call__", call):
        yield


@contextlib.contextmanager
def faster_tearsheets() -> Iterator[None]:
    """pyfolio's tear sheets drawn inside this block use :func:`rolling_beta`,
    :func:`cached_date_ticks`, :func:`utc_dates_as_naive`,
    :func:`heatmap_draws_its_own_axes` and :func:`shared_labels_hidden_once`; the figures
    are the same."""
    from pyfolio import timeseries

    _PYFOLIO.setdefault("rolling_beta", timeseries.rolling_beta)
    with mock.patch.object(timeseries, "rolling_beta", rolling_beta), cached_date_ticks(), \
            utc_dates_as_naive(), heatmap_draws_its_own_axes(), shared_labels_hidden_once():
        yield


@contextlib.contextmanager
def shared_labels_hidden_once() -> Iterator[None]:
    """Inside the block, pandas' hiding of a shared axis' tick labels (after each of its
    plot calls, on every panel of the figure) skips an axis whose labels it has already
    hidden: the axis label, and every tick's labels, the major and the minor ones, with
    pandas' minor locator and formatter in place.

    Hiding again would only compute the axis' ticks again and hide none: the ticks an
    axis adds later copy the first tick's properties, its hidden labels included, and the
    labels' positions and texts are computed again when the figure is drawn. An axis whose
    ticks were rebuilt since (``Axis.clear``, ``set_tick_params(reset=True)``) has visible
    labels again and is hidden again, as pandas does."""
    from matplotlib import ticker as mticker
    from pandas.plotting._matplotlib import tools

    real = tools._remove_labels_from_axis

    def hidden(axis) -> bool:
        ticks = [axis.__dict__.get("majorTicks"), axis.__dict__.get("minorTicks")]
        return (all(isinstance(t, list) and t for t in ticks)
                and not isinstance(axis.get_minor_locator(), mticker.NullLocator)
                and not isinstance(axis.get_minor_formatter(), mticker.NullFormatter)
                and not axis.get_label().get_visible()
                and not any(tick.label1.get_visible() or tick.label2.get_visible()
                            for tick in ticks[0] + ticks[1]))

    def remove_labels(axis) -> None:
        if not hidden(axis):
            real(axis)

    with mock.patch.object(tools, "_remove_labels_from_axis", remove_labels):
        yield


@contextlib.contextmanager
def heatmap_draws_its_own_axes() -> Iterator[None]:
    """Inside the block, seaborn's heatmap draws only the panels that hold a heatmap
    (a ``QuadMesh``) where it would draw the whole figure: it draws so that its tick labels
    have their positions and sizes before it checks whether they overlap, and those labels
    are the heatmap's own. A figure without a heatmap panel is drawn whole, as seaborn does."""
    from matplotlib.collections import QuadMesh
    from seaborn import matrix

    real = matrix._draw_figure

    def draw(fig):
        heatmaps = [ax for ax in fig.axes if any(isinstance(c, QuadMesh) for c in ax.collections)]
        if not heatmaps:
            return real(fig)
        renderer = fig.canvas.get_renderer()
        for ax in heatmaps:
            ax.draw(renderer)

    with mock.patch.object(matrix, "_draw_figure", draw):
        yield


@contextlib.contextmanager
def utc_dates_as_naive() -> Iterator[None]:
    """Inside the block, pandas' matplotlib date converter receives aware dates (an index,
    a Series, or the object array of ``Timestamp`` that a line keeps of an aware index) as
    the same instants in naive UTC. matplotlib's ``date2num`` converts an aware date to
    naive UTC before counting days, so the numbers are the same."""
    from pandas.plotting._matplotlib.converter import DatetimeConverter

    real = DatetimeConverter._convert_1d

    def convert(values, unit, axis):
        naive = _as_naive_utc(values)
        return real(values if naive is None else naive, unit, axis)

    with mock.patch.object(DatetimeConverter, "_convert_1d", staticmethod(convert)):
        yield


def _as_naive_utc(values) -> pd.DatetimeIndex | None:
    """``values`` as a naive UTC index when they are aware dates, else None."""
    if isinstance(values, pd.Series):
        values = pd.Index(values)
    if (isinstance(values, np.ndarray) and values.dtype == object and values.ndim == 1
            and len(values) and isinstance(values[0], pd.Timestamp)
            and values[0].tz is not None):
        try:
            values = pd.DatetimeIndex(values)
        except (TypeError, ValueError):  # mixed zones or other objects: pandas' own way
            return None
    if isinstance(values, pd.DatetimeIndex) and values.tz is not None:
        return values.tz_convert("UTC").tz_localize(None)
    return None


def freeze_ticks(fig) -> None:
    """Pin every axis of ``fig`` to the ticks and labels it shows now, so that saving it
    (``bbox_inches="tight"`` draws it twice, each draw asking each axis several times)
    does not recompute them: the same positions and the same label strings, given as a
    ``FixedLocator`` and ``FixedFormatter``.

    Call it once the figure is complete (its view limits are final). An axis whose
    formatter shows an offset or a scale factor (``1e6`` in the corner) keeps its own
    formatter: a fixed formatter would drop that text."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            # the ticks as Axis._update_ticks labels them: the minor ones without those
            # on a major tick (formatted after that filter: a label belongs to a position)
            _freeze(axis.major, axis.get_majorticklocs)
            _freeze(axis.minor, axis.get_minorticklocs)


def _freeze(ticker, shown_locs) -> None:
    from matplotlib import ticker as mticker

    locator, formatter = ticker.locator, ticker.formatter
    if isinstance(locator, mticker.NullLocator) or (
            isinstance(locator, mticker.FixedLocator)
            and isinstance(formatter, mticker.FixedFormatter)):
        return
    locs = np.asarray(shown_locs(), dtype=float)
    labels = formatter.format_ticks(locs)
    if formatter.get_offset():
        return
    fixed_locator, fixed_formatter = mticker.FixedLocator(locs), mticker.FixedFormatter(labels)
    fixed_locator.set_axis(locator.axis)
    fixed_formatter.set_axis(formatter.axis)
    ticker.locator, ticker.formatter = fixed_locator, fixed_formatter
