"""The credit-spread picture of a report (``spreads.png``): what pyfolio's position and
transaction sheets cannot say of spreads, whose legs they see as separate holdings.

Four panels over the traded sessions: the capital at risk (the open spreads' maximum loss)
as a share of the account, the open spreads by kind, each closed spread's P&L on its exit
session with the running total, and the P&L distribution by the exit that closed it.
The series are computed from the spread rows alone (``capital_at_risk``,
``open_spreads_by_kind``), so they can be checked without drawing.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

KIND_COLORS = {"put_credit": "#2ca02c", "call_credit": "#d62728"}
EXIT_COLORS = {"profit_take": "#2ca02c", "stop_loss": "#d62728", "time_exit": "#ff7f0e",
               "expiry": "#1f77b4", "open": "#7f7f7f"}


def _held(spreads: pd.DataFrame, sessions: pd.DatetimeIndex) -> np.ndarray:
    """A sessions x spreads mask: True where the spread is open at that session's close
    (from its entry session up to, not including, its exit session; an open spread to the
    end)."""
    days = sessions.normalize().to_numpy()[:, None]
    entry = pd.to_datetime(spreads["entry_date"]).to_numpy()[None, :]
    exit_ = pd.to_datetime(spreads["exit_date"]).to_numpy()[None, :]  # NaT while open
    return (days >= entry) & (np.isnat(exit_) | (days < exit_))


def capital_at_risk(spreads: pd.DataFrame, sessions: pd.DatetimeIndex) -> pd.Series:
    """Dollars at risk at each session's close: the sum of the open spreads' maximum loss
    (width minus credit, times 100 and the contracts, as the ``max_loss`` column holds)."""
    return capital_at_risk_by_underlying(spreads, sessions).sum(axis=1)


def capital_at_risk_by_underlying(spreads: pd.DataFrame,
                                  sessions: pd.DatetimeIndex) -> pd.DataFrame:
    """The capital at risk split by underlying (a portfolio's exposure by symbol)."""
    if spreads.empty:
        return pd.DataFrame(index=sessions)
    held = _held(spreads, sessions)
    loss = spreads["max_loss"].to_numpy(dtype=float)
    names = spreads["underlying"].to_numpy()
    return pd.DataFrame({name: held[:, names == name] @ loss[names == name]
                         for name in sorted(set(names))}, index=sessions)


def open_spreads_by_kind(spreads: pd.DataFrame, sessions: pd.DatetimeIndex) -> pd.DataFrame:
    """How many spreads of each kind (put_credit, call_credit) are open at each close."""
    if spreads.empty:
        return pd.DataFrame(index=sessions)
    held = _held(spreads, sessions)
    kinds = spreads["kind"].to_numpy()
    return pd.DataFrame({kind: held[:, kinds == kind].sum(axis=1)
                         for kind in sorted(set(kinds))}, index=sessions)


def account_value(returns: pd.Series, final_value: float) -> pd.Series:
    """The account's value at each close, from its daily returns and its final value."""
    growth = (1.0 + returns).cumprod()
    return final_value * growth / growth.iloc[-1]


def exit_label(row) -> str:
    """What closed a spread (the strategy's tag, else the broker's reason), or 'open'."""
    if row["status"] == "open":
        return "open"
    tag = row.get("tag")
    return str(tag) if isinstance(tag, str) and tag else str(row.get("exit_reason") or "closed")


def align_zero(left, right) -> None:
    """Put 0 at the same height on two y axes of one panel (a bar's sign and the running
    total's sign then read off the same line), widening each axis, never clipping it."""
    (a, b), (c, d) = left.get_ylim(), right.get_ylim()
    a, c = min(a, 0.0), min(c, 0.0)
    b, d = max(b, 0.0), max(d, 0.0)
    below = max(-a / (b - a) if b > a else 0.0, -c / (d - c) if d > c else 0.0)
    if below >= 1.0:  # nothing above zero on one axis: leave both as drawn
        return
    # each axis keeps its top and lowers its bottom until ``below`` of it is under zero
    left.set_ylim(min(a, -below * b / (1 - below)), b)
    right.set_ylim(min(c, -below * d / (1 - below)), d)


def plot_spreads(result, path: Path) -> Path:
    """Draw ``spreads.png`` for a credit-spread result, one symbol's or a portfolio's (its
    ``spreads`` rows, returns and final value); with several underlyings the capital at
    risk is stacked by underlying."""
    spreads, sessions = result.spreads, pd.DatetimeIndex(result.returns.index)
    fig, axes = plt.subplots(4, 1, figsize=(11, 13),
                             gridspec_kw={"height_ratios": [2, 1, 2, 2]})
    still_open = int((spreads["status"] == "open").sum()) if len(spreads) else 0
    fig.suptitle(f"{result.symbol}: credit spreads ({len(spreads) - still_open} closed, "
                 f"{still_open} open at the end)")
    by_underlying = capital_at_risk_by_underlying(spreads, sessions)
    value = account_value(result.returns, float(result.metrics["final_value"]))
    share = 100 * by_underlying.sum(axis=1) / value
    if len(by_underlying.columns) > 1:
        bottom = np.zeros(len(sessions))
        for name in by_underlying.columns:
            top = bottom + 100 * by_underlying[name].to_numpy() / value.to_numpy()
            axes[0].fill_between(sessions, bottom, top, step="post", alpha=0.6, label=name)
            bottom = top
    else:
        axes[0].fill_between(sessions, share, 0, color="#9467bd", alpha=0.5, step="post")
    axes[0].axhline(share.mean(), color="black", lw=0.8, ls="--",
                    label=f"average {share.mean():.1f} %, highest {share.max():.1f} %")
    axes[0].set_ylabel("capital at risk (% of account)")
    axes[0].set_title("open spreads' maximum loss at each close", fontsize=10)
    axes[0].legend(loc="upper left", ncol=min(len(by_underlying.columns) + 1, 6))

    counts = open_spreads_by_kind(spreads, sessions)
    bottom = np.zeros(len(sessions))
    for kind in counts.columns:
        axes[1].fill_between(sessions, bottom, bottom + counts[kind], step="post",
                             color=KIND_COLORS.get(kind, "#7f7f7f"), alpha=0.6,
                             label=kind.replace("_", " "))
        bottom = bottom + counts[kind].to_numpy()
    axes[1].set_ylabel("open spreads")
    if len(counts.columns):  # no spread ever opened: nothing to name (matplotlib warns)
        axes[1].legend(loc="upper left", ncol=2)
    for ax in axes[:2]:
        ax.set_xlim(sessions[0], sessions[-1])

    closed = spreads[spreads["status"] != "open"].copy()
    labels = closed.apply(exit_label, axis=1) if len(closed) else pd.Series(dtype=str)
    if len(closed):
        exits = pd.to_datetime(closed["exit_date"])
        for label in sorted(set(labels)):
            mine = (labels == label).to_numpy()
            axes[2].bar(exits[mine], closed["pnl"][mine], width=3,
                        color=EXIT_COLORS.get(label, "#8c564b"), label=label.replace("_", " "))
        order = np.argsort(exits.to_numpy(), kind="stable")
        running = axes[2].twinx()
        running.plot(exits.iloc[order], closed["pnl"].iloc[order].cumsum(), color="black",
                     lw=1.2, label="running total")
        running.set_ylabel("running total ($)")
        align_zero(axes[2], running)
        running.legend(loc="lower right")
        axes[2].legend(loc="upper left", ncol=3)
    axes[2].axhline(0, color="black", lw=0.5)
    axes[2].set_xlim(sessions[0], sessions[-1])
    axes[2].set_ylabel("P&L per spread ($)")
    axes[2].set_title("each closed spread on its exit session", fontsize=10)

    if len(closed):
        bins = np.histogram_bin_edges(closed["pnl"], bins=30)
        for label in sorted(set(labels)):
            pnl = closed["pnl"][(labels == label).to_numpy()]
            axes[3].hist(pnl, bins=bins, alpha=0.7, color=EXIT_COLORS.get(label, "#8c564b"),
                         label=f"{label.replace('_', ' ')}: {len(pnl)}, "
                               f"average {pnl.mean():,.0f} $")
        axes[3].legend(loc="upper left")
    else:
        axes[3].text(0.5, 0.5, "no spread closed yet", ha="center",
                     transform=axes[3].transAxes)
    axes[3].axvline(0, color="black", lw=0.5)
    axes[3].set_xlabel("P&L per closed spread ($, after commissions)")
    axes[3].set_ylabel("spreads")
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
