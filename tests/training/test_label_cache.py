"""Cached strategy labels: a repeat prices nothing and gives the same frame; a changed
config, range, source or bar the labels read misses the cache and is priced again."""

import pandas as pd
import pytest

import training.labels
from feeds.cache import ParquetCache
from feeds.chain import OptionChain
from training.label_cache import cached_strategy_labels, label_key
from training.labels import LabelConfig, strategy_labels

START, END = pd.Timestamp("2021-03-01"), pd.Timestamp("2021-03-19")


@pytest.fixture
def priced(monkeypatch):
    """Counts every spread ``strategy_labels`` prices."""
    calls = []
    real = training.labels.spread_outcome

    def counting(*args, **kwargs):
        calls.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(training.labels, "spread_outcome", counting)
    return calls


@pytest.fixture(scope="module")
def chain(sample_market):
    return sample_market.option_chain("SPY")


def test_a_repeat_prices_nothing_and_returns_the_same_labels(chain, priced, tmp_path):
    cache = ParquetCache(tmp_path)
    first = cached_strategy_labels(chain, None, START, END, cache, "sample")
    bars = ((chain.bars.index >= START) & (chain.bars.index <= END)).sum()
    assert len(priced) == 2 * bars == 2 * len(first)  # a put and a call spread per bar
    pd.testing.assert_frame_equal(first, strategy_labels(chain, None, START, END),
                                  check_freq=False)
    files = list(tmp_path.rglob("*.parquet"))
    assert len(files) == 1 and "SPY" in str(files[0]) and "sample" in str(files[0])
    priced.clear()
    again = cached_strategy_labels(chain, None, START, END, cache, "sample")
    assert priced == []
    pd.testing.assert_frame_equal(again, first, check_freq=False)
    assert list(tmp_path.rglob("*.tmp")) == []  # written atomically, nothing left over


def test_changed_config_range_source_or_bars_miss_the_cache(chain, sample_market, priced,
                                                            tmp_path):
    cache = ParquetCache(tmp_path)
    cached_strategy_labels(chain, None, START, END, cache, "sample")
    for config, start, end, name in ((LabelConfig(min_edge=0.10), START, END, "sample"),
                                     (LabelConfig(profit_take=0.6), START, END, "sample"),
                                     (None, START, END + pd.Timedelta(days=3), "sample"),
                                     (None, START, END, "bundled")):
        priced.clear()
        cached_strategy_labels(chain, config, start, end, cache, name)
        assert priced, (config, end, name)

    bars = chain.bars.copy()
    read = bars.index[bars.index > END][10]  # a bar an open spread is marked on
    bars.loc[read, "close"] *= 1.01
    changed = OptionChain("SPY", bars, seed=chain.seed)
    priced.clear()
    fresh = cached_strategy_labels(changed, None, START, END, cache, "sample")
    assert priced
    pd.testing.assert_frame_equal(fresh, strategy_labels(changed, None, START, END),
                                  check_freq=False)

    bars = chain.bars.copy()
    bars.loc[bars.index < START - pd.Timedelta(days=30), "close"] *= 1.01  # not read
    priced.clear()
    cached_strategy_labels(OptionChain("SPY", bars, seed=chain.seed), None, START, END,
                           cache, "sample")
    assert priced == []

    bars.loc[bars.index < START - pd.Timedelta(days=30), "atm_iv"] *= 1.5  # the long-run vol
    priced.clear()
    cached_strategy_labels(OptionChain("SPY", bars, seed=chain.seed), None, START, END,
                           cache, "sample")
    assert priced


def test_no_cache_prices_every_time_and_an_empty_range_has_no_key(chain, priced):
    cached_strategy_labels(chain, None, START, START, None, "sample")
    cached_strategy_labels(chain, None, START, START, None, "sample")
    assert len(priced) == 4
    assert label_key("sample", chain, LabelConfig(), "1990-01-01", "1990-02-01") is None


def test_labels_priced_by_edited_code_miss_the_cache(chain, priced, tmp_path, monkeypatch):
    """The key holds a hash of the pricing code: labels cached before an edit of the
    labels, the spread pricer or the chain are priced again, never read back as new."""
    import training.label_cache

    cache = ParquetCache(tmp_path)
    cached_strategy_labels(chain, None, START, END, cache, "sample")
    monkeypatch.setattr(training.label_cache, "labels_fingerprint", lambda: "edited")
    priced.clear()
    cached_strategy_labels(chain, None, START, END, cache, "sample")
    assert priced and len(list(tmp_path.rglob("*.parquet"))) == 2
