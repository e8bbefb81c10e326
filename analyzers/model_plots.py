"""Plots of a trained strategy model (seed 000's plots): confusion matrix, actual vs
predicted signals over time, training history, feature importance, market states."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from core.domain import (
    CLASS_NAMES,  # noqa: E402
    REGIME_NAMES,  # noqa: E402
)

REGIME_COLORS = ("#2ca02c", "#1f77b4", "#7f7f7f", "#d62728", "#ff7f0e")
CLASS_COLORS = ("#7f7f7f", "#d62728", "#2ca02c")


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_confusion(matrix, path: Path, title: str = "Confusion matrix") -> Path:
    matrix = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center",
                color="white" if value > matrix.max() / 2 else "black")
    ticks = range(len(CLASS_NAMES))
    ax.set_xticks(ticks, [n.replace("_", "\n") for n in CLASS_NAMES])
    ax.set_yticks(ticks, [n.replace("_", " ") for n in CLASS_NAMES])
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual (label)")
    ax.set_title(title)
    return _save(fig, path)


def plot_signal_timeline(predictions: pd.DataFrame, close: pd.Series, path: Path,
                         column: str = "lstm") -> Path:
    """Price with actual (label) and predicted classes as colour bands under it."""
    fig, axes = plt.subplots(3, 1, figsize=(11, 6), sharex=True,
                             gridspec_kw={"height_ratios": [3, 1, 1]})
    axes[0].plot(close.index, close.to_numpy(), color="black", lw=1)
    axes[0].set_ylabel("close")
    axes[0].set_title("Signals: actual (best spread in hindsight) vs predicted")
    for ax, col, name in ((axes[1], "label", "actual"), (axes[2], column, "predicted")):
        values = predictions[col].to_numpy()
        for k, color in enumerate(CLASS_COLORS):
            ax.fill_between(predictions.index, 0, 1, where=values == k, color=color,
                            step="post", label=CLASS_NAMES[k])
        ax.set_yticks([])
        ax.set_ylabel(name)
    # below the bands, outside every panel: it never covers the price or a band
    axes[2].legend(loc="upper left", bbox_to_anchor=(0.0, -0.35), ncol=3, fontsize=8,
                   frameon=False)
    return _save(fig, path)


def plot_training_history(history: dict, path: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key in zip(axes, ("loss", "accuracy"), strict=True):
        for name in (key, f"val_{key}"):
            if name in history:
                ax.plot(np.arange(1, len(history[name]) + 1), history[name], label=name,
                        marker="o", markersize=3)  # one epoch still shows as a point
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    return _save(fig, path)


def plot_feature_importance(importance: pd.Series, path: Path, top: int = 20) -> Path:
    """The ``top`` features by the size of their accuracy drop, positive (the model leans on
    them) and negative (shuffling them helped: noise to it) alike; features whose shuffling
    changes nothing (a head that does not read them, like the regime head for everything
    but the HMM's probabilities) are counted under the chart, not drawn as empty bars."""
    moved = importance[importance != 0]
    data = moved.reindex(moved.abs().sort_values().index).tail(top)
    fig, ax = plt.subplots(figsize=(7, 0.3 * max(len(data), 1) + 1.8))
    ax.barh(data.index, data.to_numpy(),
            color=["#1f77b4" if v > 0 else "#999999" for v in data.to_numpy()])
    ax.axvline(0.0, color="black", lw=0.6)
    ax.set_xlabel("accuracy drop when the feature is shuffled (validation data)")
    unmoved = int((importance == 0).sum())
    note = (f"\n{unmoved} of {len(importance)} features change no call when shuffled (not "
            "drawn): the model does not read them or they never move its calls"
            if unmoved else "")
    ax.set_title("Permutation feature importance" + note, fontsize=10)
    return _save(fig, path)


def plot_market_states(close: pd.Series, regime: pd.Series, path: Path) -> Path:
    """Price coloured by the filtered regime of each bar."""
    fig, ax = plt.subplots(figsize=(11, 4.5))
    regime = regime.reindex(close.index)
    for k, (name, color) in enumerate(zip(REGIME_NAMES, REGIME_COLORS, strict=True)):
        ax.scatter(close.index[regime == k], close[regime == k], s=4, color=color,
                   label=name.replace("_", " "))
    ax.plot(close.index, close.to_numpy(), color="black", lw=0.4, alpha=0.5)
    ax.set_title("Market states (filtered HMM regime)")
    ax.legend(loc="upper left", fontsize=8, markerscale=3)
    return _save(fig, path)


#: position taken on each predicted class: a put credit spread is a bullish call (long),
#: a call credit spread a bearish one (short), hold is flat
CLASS_POSITION = {0: 0.0, 1: -1.0, 2: 1.0}


def signal_returns(predictions: pd.DataFrame, close: pd.Series,
                   columns=("regime", "lstm", "rule")) -> pd.DataFrame:
    """Daily returns of trading out-of-sample class predictions against buying and holding.

    For each scored bar t in ``predictions`` (the walk-forward's out-of-sample rows only),
    the position of its predicted class (``CLASS_POSITION``: long on put, short on call,
    flat on hold) is taken at t's close and held to the next session's close; the market
    earns the same close-to-close return fully long. No costs. Rows are indexed by the
    session the return is earned; ``decision_date`` is the scored bar.
    """
    close = close.sort_index()
    following = close.shift(-1)
    scored = predictions.index[predictions.index.isin(close.index)]
    scored = scored[following.reindex(scored).notna().to_numpy()]
    nxt = pd.Series(close.index, index=close.index).shift(-1).reindex(scored)
    market = (following.reindex(scored) / close.reindex(scored) - 1.0).to_numpy()
    out = pd.DataFrame({"decision_date": scored, "market": market},
                       index=pd.DatetimeIndex(nxt.to_numpy(), name="date"))
    for column in columns:
        if column in predictions:
            position = predictions.loc[scored, column].map(CLASS_POSITION).to_numpy(float)
            out[f"{column}_position"] = position
            out[column] = position * market
    return out


def plot_returns_vs_market(returns: pd.DataFrame, path: Path, symbol: str = "",
                           columns=("regime", "lstm", "rule")) -> Path:
    """Cumulative returns of ``signal_returns`` columns against buy and hold."""
    fig, ax = plt.subplots(figsize=(11, 4.5))
    names = {"lstm": "LSTM signal (out of sample)", "regime": "regime signal (out of sample)",
             "rule": "rule signal (baseline)"}
    colors = {"lstm": "#1f77b4", "regime": "#2ca02c", "rule": "#ff7f0e"}
    # every curve starts at 0 at the first decision's close, before any return is earned
    first = returns["decision_date"].iloc[0] if len(returns) else None

    def cumulative(daily: pd.Series) -> pd.Series:
        curve = (1.0 + daily).cumprod() - 1.0
        return curve if first is None else pd.concat([pd.Series([0.0], index=[first]), curve])

    for column in columns:
        color = colors.get(column)
        if column in returns:
            curve = cumulative(returns[column])
            ax.plot(curve.index, 100 * curve, color=color, label=names.get(column, column))
    market = cumulative(returns["market"])
    ax.plot(market.index, 100 * market, color="#7f7f7f", label=f"{symbol} buy & hold".strip())
    ax.axhline(0, color="black", lw=0.5)
    ax.set_ylabel("cumulative return (%)")
    ax.set_title("Returns vs market over the walk-forward test folds: long on a predicted put "
                 "credit spread,\nshort on a call credit spread, flat on hold, from each "
                 "close to the next (no costs)", fontsize=10)
    ax.legend(loc="upper left")
    return _save(fig, path)


def plot_reliability(predictions: pd.DataFrame, path: Path,
                     names=("lstm_raw", "lstm", "regime", "logistic"), bins: int = 10
                     ) -> Path:
    """Reliability diagram: for every class (one against the rest, pooled), the share of
    bars that were that class against the probability given to it, per probability bin.
    On the diagonal a probability means what it says."""
    from sklearn.calibration import calibration_curve

    labels = predictions["label"].to_numpy(dtype=int)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--", label="perfectly calibrated")
    titles = {"lstm_raw": "LSTM (raw)", "lstm": "LSTM (its temperature: 1 by default)",
              "regime": "regime head", "logistic": "logistic regression"}
    for name in names:
        columns = [f"{name}_p_{c}" for c in ("hold", "call", "put")]
        if columns[0] not in predictions:
            continue
        proba = predictions[columns].to_numpy(dtype=float)
        truth = (labels[:, None] == np.arange(proba.shape[1])[None, :]).ravel()
        observed, predicted = calibration_curve(truth, np.clip(proba.ravel(), 0, 1),
                                                n_bins=bins, strategy="uniform")
        ax.plot(predicted, observed, marker="o", label=titles.get(name, name))
    ax.set_xlabel("predicted probability of a class")
    ax.set_ylabel("observed frequency of that class")
    ax.set_title("Reliability (walk-forward, out of sample)")
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


#: the pictures of a training report, in the order a reader wants them
TRAINING_PICTURES = ("returns_vs_market.png", "confusion_matrix.png", "reliability.png",
                     "signal_distribution.png", "feature_importance.png", "market_states.png",
                     "training_history.png")


def write_training_page(folder: Path, title: str, scores: str) -> Path:
    """``index.html`` of a training report: the score table as printed, then every picture
    the run drew and a link to every table, so the folder opens like a backtest's."""
    import html

    folder = Path(folder)
    parts = ["<!doctype html><html><head><meta charset='utf-8'>",
             f"<title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
             "img{max-width:100%}pre{background:#f4f4f4;padding:1em;overflow-x:auto}</style>",
             f"</head><body><h1>{html.escape(title)}</h1>"]
    if scores:
        parts.append(f"<h2>walk-forward scores</h2><pre>{html.escape(scores)}</pre>")
    for picture in TRAINING_PICTURES:
        if (folder / picture).is_file():
            parts.append(f"<h2>{picture[:-4].replace('_', ' ')}</h2>"
                         f"<img src='{picture}' alt='{picture}'>")
    tables = sorted(p.name for p in folder.iterdir() if p.suffix in (".csv", ".json", ".txt"))
    parts.append("<p>" + " · ".join(f"<a href='{n}'>{n}</a>" for n in tables) + "</p>")
    path = folder / "index.html"
    path.write_text("\n".join(parts) + "\n</body></html>\n")
    return path
