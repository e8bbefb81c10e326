"""The files in examples/ work as their comments say."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from models.direction_model import DirectionConfig, make_direction_config
from training.pipeline import make_spec

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_the_plain_backtrader_script_runs_and_saves_backtraders_plot_headless(tmp_path):
    plot = tmp_path / "plot.png"
    done = subprocess.run([sys.executable, str(EXAMPLES / "own_backtrader_script.py"),
                           str(plot)], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                               "BTML_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    assert "final value" in done.stdout
    # the Sharpe ratio as the backtest reports it: annualized, risk-free rate 0 (backtrader's
    # defaults gave a daily ratio against 1 % a year: -0.007 beside a +0.79 % return)
    final, sharpe = re.search(r"final value ([\d,.]+), Sharpe \(annualized, risk-free 0\) "
                              r"(-?[\d.]+)", done.stdout).groups()
    assert float(final.replace(",", "")) > 100_000 and float(sharpe) > 0.05
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 20_000


def test_the_example_configs_load_into_the_model_configs():
    spec = make_spec(EXAMPLES / "strategy_model.toml")
    assert spec.lstm.lstm_units == (128, 64, 32) and spec.labels.min_edge == 0.05
    config = make_direction_config(EXAMPLES / "direction.toml")
    assert isinstance(config, DirectionConfig) and config.meta == "stack"


def test_the_env_example_names_every_key_the_code_reads():
    from feeds.secrets import POLYGON_KEY_NAMES, UNUSUAL_WHALES_KEY_NAMES

    text = (EXAMPLES / ".env.example").read_text()
    for name in (*POLYGON_KEY_NAMES, *UNUSUAL_WHALES_KEY_NAMES):
        assert name in text
