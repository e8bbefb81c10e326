"""Training the strategy model for one symbol from a market source, as seed 000 does:
the HMM on a long history, the model's head (the regime regression by default, or seed
000's LSTM) on recent years, labels priced on the source's chain.

Everything here ends at ``end`` (inclusive): no bar after it is read, labels that would
need bars after it are purged, so a model trained with ``end`` = the day before a backtest
starts has never seen the backtest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.domain import STRATEGY_HEADS
from core.errors import DataError
from feeds.base import MarketSource
from feeds.cache import ParquetCache
from models.config import load_config_file, override
from models.features import LOOKBACK
from models.lstm import LSTMConfig
from models.regime_head import RegimeHeadConfig
from models.regimes import HMMConfig
from models.strategy_model import DECISIONS, StrategyModel
from training.label_cache import cached_strategy_labels
from training.labels import LabelConfig

#: default history lengths before ``end``: HMM 12 years, LSTM 4 (seed: 2010 and 2020)
HMM_YEARS, LSTM_YEARS = 12, 4


@dataclass(frozen=True)
class TrainingSpec:
    """What to train on and with which settings."""

    #: the model's head: "regime" (the default) or "lstm" (``models.strategy_model``)
    head: str = STRATEGY_HEADS[0]
    #: how the model calls: "expected_pnl" (the default) or "probability"
    #: (``models.strategy_model``)
    decision: str = DECISIONS[0]
    regime_head: RegimeHeadConfig = field(default_factory=RegimeHeadConfig)
    lstm: LSTMConfig = field(default_factory=LSTMConfig)
    hmm: HMMConfig = field(default_factory=HMMConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    #: first bar of the HMM's history (None: HMM_YEARS before the end)
    hmm_start: pd.Timestamp | None = None
    #: first labelled bar of the LSTM's history (None: LSTM_YEARS before the end)
    lstm_start: pd.Timestamp | None = None
    validation_fraction: float = 0.2
    embargo: int = 5

    def __post_init__(self):
        if self.head not in STRATEGY_HEADS:
            raise DataError(f"head must be one of {', '.join(STRATEGY_HEADS)} "
                            f"(got {self.head!r})")
        if self.decision not in DECISIONS:
            raise DataError(f"[model] decision must be one of {', '.join(DECISIONS)} "
                            f"(got {self.decision!r})")

    def make_model(self) -> StrategyModel:
        return StrategyModel(lstm_config=self.lstm, hmm_config=self.hmm,
                             validation_fraction=self.validation_fraction,
                             embargo=self.embargo, head=self.head,
                             head_config=self.regime_head, decision=self.decision)


def make_spec(config_file: Path | str | None = None, epochs: int | None = None,
              hmm_start=None, lstm_start=None, head: str | None = None) -> TrainingSpec:
    """A TrainingSpec from the defaults, a config file and command-line overrides.

    The head is ``head`` (``--head``), else the file's ``[model] head``, else "regime"; the
    call is the file's ``[model] decision``, else "expected_pnl". An
    ``[lstm]`` table or ``--epochs`` with the regime head is refused: they would change
    nothing, and a user who wrote them expects an LSTM."""
    data = load_config_file(config_file) if config_file else {}
    where = str(config_file)
    table = dict(data.get("model", {}))  # the head, and the regime head's settings
    file_head = table.pop("head", STRATEGY_HEADS[0])
    if file_head not in STRATEGY_HEADS:
        raise DataError(f"{where}: [model] head must be one of {', '.join(STRATEGY_HEADS)} "
                        f"(got {file_head!r})")
    head = head or file_head
    decision = table.pop("decision", DECISIONS[0])
    regime = override(RegimeHeadConfig(), table, where, "model")
    lstm = override(LSTMConfig(), data.get("lstm", {}), where, "lstm")  # unknown keys first
    if epochs is not None:
        lstm = override(lstm, {"epochs": epochs}, "--epochs")
    if head != "lstm":
        given = [name for name, present in ((f"{where}: [lstm]", "lstm" in data),
                                            ("--epochs", epochs is not None)) if present]
        if given:
            raise DataError(f"{' and '.join(given)}: only the LSTM head has these settings, "
                            f"and the head is {head!r}: add --head lstm, "
                            "or [model] head = \"lstm\" to the config file")
    if hmm_start and lstm_start and pd.Timestamp(hmm_start) > pd.Timestamp(lstm_start):
        raise DataError(f"--hmm-start {pd.Timestamp(hmm_start):%Y-%m-%d} is after --lstm-start "
                        f"{pd.Timestamp(lstm_start):%Y-%m-%d}: the HMM's history must cover "
                        f"the bars the model trains on; start it earlier")
    return TrainingSpec(head=head, decision=decision, regime_head=regime, lstm=lstm,
                        hmm=override(HMMConfig(), data.get("hmm", {}), where, "hmm"),
                        labels=override(LabelConfig(), data.get("labels", {}), where, "labels"),
                        hmm_start=pd.Timestamp(hmm_start) if hmm_start else None,
                        lstm_start=pd.Timestamp(lstm_start) if lstm_start else None)


@dataclass
class TrainingData:
    bars: pd.DataFrame
    hmm_bars: pd.DataFrame
    labels: pd.DataFrame
    chain: object


def training_starts(end: pd.Timestamp, spec: TrainingSpec) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First labelled LSTM bar and first HMM bar for training data ending at ``end``; a
    start after ``end``, or an HMM history that begins after the strategy model's first
    bar (the regimes of every bar it trains on come from the HMM), is a DataError."""
    lstm_start = spec.lstm_start or end - pd.DateOffset(years=LSTM_YEARS)
    hmm_start = spec.hmm_start or end - pd.DateOffset(years=HMM_YEARS)
    for flag, start in (("--lstm-start", lstm_start), ("--hmm-start", hmm_start)):
        if start >= end:
            raise DataError(f"{flag} {start:%Y-%m-%d} is not before the last training bar "
                            f"{end:%Y-%m-%d}")
    if hmm_start > lstm_start:
        lstm = ("--lstm-start" if spec.lstm_start
                else f"{LSTM_YEARS} years before the last training bar")
        raise DataError(f"--hmm-start {hmm_start:%Y-%m-%d} is after the strategy model's first "
                        f"labelled bar {lstm_start:%Y-%m-%d} ({lstm}): the HMM's history must "
                        f"cover the bars the model trains on; start it earlier")
    return lstm_start, hmm_start


def warmup_sessions(spec: TrainingSpec) -> int:
    """Bars kept before the first labelled bar (features, then the first LSTM window). The
    same for both heads, so they train and are scored on the same bars and folds."""
    return LOOKBACK + spec.lstm.sequence_length


def option_chain_of(source: MarketSource, symbol: str):
    chain = source.option_chain(symbol)
    if chain is None:
        raise DataError(f"{symbol}: the source has no option chain to price labels with")
    return chain


def training_data(source: MarketSource, symbol: str, end: pd.Timestamp, spec: TrainingSpec,
                  progress: bool = False, cache: ParquetCache | None = None) -> TrainingData:
    """Bars (with warm-up before the LSTM start), HMM bars and labels, all ending at ``end``.
    With ``cache`` the labels are read back when this exact pricing was stored before."""
    history = source.bars(symbol, None, end)
    if history.empty:
        raise DataError(f"{symbol}: no bars on or before {end:%Y-%m-%d} to train on")
    end = history.index[-1]
    lstm_start, hmm_start = training_starts(end, spec)
    first = history.index.searchsorted(lstm_start)
    bars = history.iloc[max(first - warmup_sessions(spec), 0):]
    hmm_bars = history[history.index >= hmm_start]
    chain = option_chain_of(source, symbol)
    labels = cached_strategy_labels(chain, spec.labels, start=bars.index[0], end=end,
                                    cache=cache, source_name=source.name, progress=progress)
    labels = known_by(labels, end)
    check_spreads_priced(symbol, labels, bars["close"])
    return TrainingData(bars, hmm_bars, labels, chain)


def known_by(labels: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """``labels`` as known on ``end``: a spread that left the book after it has no return
    yet, and a label needing one is unknown (NaN, its ``label_end`` the last bar in hand).
    The chain may hold bars after ``end`` (``--end-date`` before the data's last bar); an
    evaluation of the bars up to ``end`` must not score them with what came later."""
    out = labels.copy()
    late = pd.Series(False, index=out.index)
    for side in ("put", "call"):
        after = pd.to_datetime(out[f"{side}_exit"]) > end
        out.loc[after, f"{side}_return"] = np.nan
        out.loc[after, f"{side}_exit"] = pd.NaT
        late |= after
    out.loc[late, "label"] = np.nan
    out.loc[late, "label_end"] = end
    return out


def check_spreads_priced(symbol: str, labels: pd.DataFrame, close: pd.Series) -> None:
    """Refuse labels made of refusals: when the chain could price no put and no call spread
    on any labelled session (a price far below the strike grid and the default width of at
    least $5, say), every label is hold and no model can learn a choice from them."""
    known = labels["label"].notna()
    if not known.any():
        return
    priced = labels.loc[known, ["put_return", "call_return"]].notna().to_numpy().any()
    if not priced:
        raise DataError(
            f"{symbol}: no credit spread could be priced on any of the {int(known.sum())} "
            f"labelled sessions (the closes are about {close.median():,.2f}; the labels trade "
            "spreads of the strategy's width, by default one strike step and at least $5): "
            "the strategy model needs a symbol whose options the chain can price, or a "
            "width that fits its strike grid (`width` in the [labels] table of a --config "
            "file)")


def train_strategy_model(source: MarketSource, symbol: str, end: pd.Timestamp,
                         spec: TrainingSpec, progress: bool = False,
                         cache: ParquetCache | None = None) -> StrategyModel:
    """Fit a StrategyModel on ``symbol``'s history up to ``end`` (inclusive)."""
    data = training_data(source, symbol, end, spec, progress, cache)
    return spec.make_model().fit(data.bars, data.labels, hmm_bars=data.hmm_bars)
