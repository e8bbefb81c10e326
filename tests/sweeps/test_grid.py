"""``--grid name=v1,v2`` against the strategy config dataclasses."""

from __future__ import annotations

import pytest

import run
from core.errors import DataError
from strategies import CreditSpreadConfig, EquityConfig
from sweeps.grid import make_config, parse_grid


def test_values_take_the_type_of_their_config_field():
    grid = parse_grid("credit-spread", ["target_delta=0.2,0.30", "width=none,5",
                                        "dte_min=20,30", "skip_regimes=none,3+4"])
    assert grid.axes == (("target_delta", (0.2, 0.3)), ("width", (None, 5.0)),
                         ("dte_min", (20, 30)), ("skip_regimes", ((), (3, 4))))
    assert isinstance(grid.axes[2][1][0], int)
    equity = parse_grid("equity", ["allow-short=true,no", "min_confidence=0.1"])
    assert equity.axes == (("allow_short", (True, False)), ("min_confidence", (0.1,)))


def test_parameter_sets_are_the_cartesian_product_in_grid_order():
    grid = parse_grid("credit-spread", ["target_delta=0.2,0.3", "width=5,10,15"])
    sets = grid.parameter_sets()
    assert len(sets) == 6
    assert sets[:4] == [{"target_delta": 0.2, "width": 5.0}, {"target_delta": 0.2, "width": 10.0},
                        {"target_delta": 0.2, "width": 15.0}, {"target_delta": 0.3, "width": 5.0}]
    assert parse_grid("equity", []).parameter_sets() == [{}]


@pytest.mark.parametrize(("items", "message"), [
    (["delta=0.2"], "credit-spread has no parameter 'delta'; sweepable: target_delta, width"),
    (["target_delta"], "expected NAME=V1,V2"),
    (["=0.2"], "expected NAME=V1,V2"),
    (["target_delta=0.2,abc"], "bad value 'abc' for target_delta (expected a number)"),
    (["target_delta=nan"], "expected a finite number"),
    (["dte_min=2.5"], "bad value '2.5' for dte_min (expected a whole number)"),
    (["target_delta=0.2,,0.3"], "empty value in the list for target_delta"),
    (["target_delta="], "empty value in the list for target_delta"),
    (["target_delta=0.2,0.20"], "value '0.20' repeats for target_delta"),
    (["width=5", "width=10"], "width is given twice"),
    (["skip_regimes=3+x"], "bad value '3+x' for skip_regimes"),
    (["target_delta=0.2,1.5"], "'target_delta=0.2,1.5': target_delta=1.5 is invalid: must be "
                               "between 0 and 1"),
    (["skip_regimes=7"], "skip_regimes=(7,) is invalid: must be regime indices from 0 to 4"),
])
def test_grid_errors_name_the_item_and_what_is_wrong(items, message):
    with pytest.raises(DataError) as err:
        parse_grid("credit-spread", items)
    assert message in str(err.value)


def test_equity_names_are_checked_against_the_equity_config():
    with pytest.raises(DataError, match="equity has no parameter 'target_delta'; sweepable: "
                                        "min_confidence, target_percent, allow_short"):
        parse_grid("equity", ["target_delta=0.2"])
    with pytest.raises(DataError, match="expected true or false"):
        parse_grid("equity", ["allow_short=maybe"])


def test_config_check_refuses_values_the_strategy_cannot_trade_with():
    assert make_config("credit-spread", {"target_delta": 0.2}) == CreditSpreadConfig(
        target_delta=0.2)
    for params, message in [({"target_delta": 1.5}, "target_delta=1.5 is invalid"),
                            ({"dte_min": 50}, "dte_min=50 is above dte_max=45"),
                            ({"width": -5.0}, "width=-5.0 is invalid: must be positive"),
                            ({"skip_regimes": (7,)}, "regime indices from 0 to 4")]:
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            make_config("credit-spread", params)
    assert CreditSpreadConfig(width=None).width is None


@pytest.mark.parametrize(("config", "values", "message"), [
    (CreditSpreadConfig, {"target_delta": 0.0}, "target_delta=0.0 is invalid: must be between"),
    (CreditSpreadConfig, {"target_delta": 1.0}, "target_delta=1.0 is invalid"),
    (CreditSpreadConfig, {"width": 0.0}, "width=0.0 is invalid: must be positive"),
    (CreditSpreadConfig, {"dte_min": -1}, "dte_min=-1 is invalid: must be 0 or more"),
    (CreditSpreadConfig, {"dte_max": 0, "dte_min": 0}, "dte_max=0 is invalid: must be 1 or"),
    (CreditSpreadConfig, {"dte_min": 45, "dte_max": 30}, "dte_min=45 is above dte_max=30"),
    (CreditSpreadConfig, {"profit_take": 0.0}, "profit_take=0.0 is invalid"),
    (CreditSpreadConfig, {"profit_take": 1.5}, "profit_take=1.5 is invalid"),
    (CreditSpreadConfig, {"stop_multiple": 1.0}, "stop_multiple=1.0 is invalid: must be above 1"),
    (CreditSpreadConfig, {"risk_per_trade": 0.0}, "risk_per_trade=0.0 is invalid"),
    (CreditSpreadConfig, {"max_open_spreads": 0}, "max_open_spreads=0 is invalid"),
    (CreditSpreadConfig, {"entry_spacing": 0}, "entry_spacing=0 is invalid"),
    (CreditSpreadConfig, {"close_days_before_expiry": -1}, "close_days_before_expiry=-1"),
    # every spread opens with at most dte_max days left: bought back at the first check
    (CreditSpreadConfig, {"close_days_before_expiry": 45}, "close_days_before_expiry=45 is "
                                                           "not below dte_max=45"),
    (CreditSpreadConfig, {"skip_regimes": (5,)}, "skip_regimes=(5,) is invalid"),
    (EquityConfig, {"min_confidence": 1.2}, "min_confidence=1.2 is invalid: must be from 0 to 1"),
    (EquityConfig, {"min_confidence": -0.1}, "min_confidence=-0.1 is invalid"),
    (EquityConfig, {"target_percent": 0.0}, "target_percent=0.0 is invalid"),
])
def test_each_config_refuses_what_its_strategy_cannot_trade_with(config, values, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config(**values)


def test_the_edges_of_each_rule_are_accepted():
    CreditSpreadConfig(target_delta=0.01, width=0.5, dte_min=0, dte_max=1, profit_take=1.0,
                       stop_multiple=1.01, risk_per_trade=1.0, max_open_spreads=1,
                       entry_spacing=1, close_days_before_expiry=0, skip_regimes=(0, 4))
    CreditSpreadConfig(dte_min=30, dte_max=30)
    CreditSpreadConfig(close_days_before_expiry=44)  # a spread opened at 45 days is held
    EquityConfig(min_confidence=0.0, target_percent=1.0)
    EquityConfig(min_confidence=1.0)


def test_command_line_grid_errors_exit_2_before_anything_runs(capsys, tmp_path):
    argv = ["sweep", "--symbols", "SPY", "--report", str(tmp_path / "r"), "-q"]
    assert run.main([*argv, "--grid", "target_delat=0.2,0.3"]) == 2
    assert "error: --grid 'target_delat=0.2,0.3': credit-spread has no parameter" in \
        capsys.readouterr().err
    assert run.main([*argv, "--grid", "width=5,10", "--heatmap", "width,dte_min"]) == 2
    assert "--heatmap width,dte_min: dte_min is not a --grid parameter" in capsys.readouterr().err
    assert run.main([*argv, "--grid", "stop_multiple=2,0.5"]) == 2
    assert "stop_multiple=0.5 is invalid: must be above 1" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
