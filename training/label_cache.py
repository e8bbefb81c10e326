"""Strategy labels cached on disk: pricing two spreads per bar costs ~17 ms a bar, so a
repeated training or backtest run reads the labels back instead of pricing them again.

The key holds everything a label depends on: the source name, the symbol, every
``LabelConfig`` value, the labelled range, and the data hash (``models.store.data_hash``)
of the bars the labels read (from the first labelled bar through the last bar a spread
can stay open: the expiry of the last one, at most ``dte_max`` calendar days after it, and
a week more for the settlement bar). New bars appended to a source
leave the key of a range whose labels are all known unchanged, while a range whose last
labels were not yet known (NaN) misses and is priced again. The chain's own settings that
change quotes (its class, the seed of a simulated chain, the expiry window of a Polygon
chain) are part of the key too; a Polygon chain's quotes of past days are taken as final.
Files are written atomically by ``feeds.cache.ParquetCache``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict

import numpy as np
import pandas as pd

from feeds.cache import ParquetCache, code_fingerprint
from models.store import data_hash
from training.labels import LabelConfig, strategy_labels

#: bump when the label definition changes, so old files are not read as new labels
LABEL_VERSION = "3"  # 2: spreads traded by the strategy's exits; 3: closes capped at the width
#: what the latest LABEL_VERSION changed, for a stored model of older labels (``label_note``)
LABEL_CHANGE = "closes capped at the width"


@functools.cache  # the code a process runs does not change under it
def labels_fingerprint() -> str:
    """The hash of the code that prices labels (labels, spread pricing, the chain, Black-
    Scholes): labels cached by an edited pricer are priced again."""
    from brokers import spread_pricing
    from feeds import chain
    from pricing import black_scholes
    from training import labels

    return code_fingerprint(labels, spread_pricing, chain, black_scholes)


def label_key(source_name: str, chain, config: LabelConfig, start=None,
              end=None) -> tuple[str, ...] | None:
    """The cache key of ``strategy_labels(chain, config, start, end)``; None when the range
    holds no bar."""
    days = pd.DatetimeIndex(chain.bars.index)
    lo = int(np.searchsorted(days, pd.Timestamp(start))) if start is not None else 0
    hi = (int(np.searchsorted(days, pd.Timestamp(end), side="right")) if end is not None
          else len(days))
    if hi <= lo:
        return None
    last_exit = days[hi - 1] + pd.Timedelta(days=config.dte_max + 7)
    read_until = int(np.searchsorted(days, last_exit, side="right"))  # exclusive
    numeric = chain.bars.iloc[lo:read_until].select_dtypes(include=["number", "bool"])
    # a quote's long-run vol is the median of atm_iv over every bar up to its day
    earlier_vols = chain.bars[["atm_iv"]].iloc[:lo] if "atm_iv" in chain.bars else None
    chain_settings = {"class": type(chain).__name__, "seed": getattr(chain, "seed", None),
                      "window": repr(getattr(chain, "window", None))}
    digest = hashlib.sha256(json.dumps(
        {"version": LABEL_VERSION, "code": labels_fingerprint(), "config": asdict(config),
         "chain": chain_settings,
         "bars": data_hash(numeric),
         "earlier_vols": None if earlier_vols is None else data_hash(earlier_vols)},
        sort_keys=True, default=str).encode()).hexdigest()[:20]
    return ("labels", source_name or "source", chain.symbol,
            f"{days[lo]:%Y%m%d}-{days[hi - 1]:%Y%m%d}_{digest}")


def cached_strategy_labels(chain, config: LabelConfig | None = None, start=None, end=None,
                           cache: ParquetCache | None = None, source_name: str = "",
                           progress: bool = False) -> pd.DataFrame:
    """``strategy_labels(chain, config, start, end)``, read from ``cache`` when this exact
    computation was stored before (no cache: priced every time)."""
    config = config or LabelConfig()
    key = label_key(source_name, chain, config, start, end) if cache is not None else None
    if key is None:
        return strategy_labels(chain, config, start, end, progress=progress)
    frame = cache.load_or_build(
        key, lambda: strategy_labels(chain, config, start, end, progress=progress))
    frame.index = pd.DatetimeIndex(frame.index)
    return frame
