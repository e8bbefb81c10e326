"""``--grid name=v1,v2`` against the strategy config dataclasses."""

from __future__ import annotations

import pytest

import run
from core.errors import DataError
from strategies import CreditSpreadConfig
from sweeps.grid import check_config, make_config, parse_grid


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
    check_config(CreditSpreadConfig(width=None))


def test_command_line_grid_errors_exit_2_before_anything_runs(capsys, tmp_path):
    argv = ["sweep", "--symbols", "SPY", "--report", str(tmp_path / "r"), "-q"]
    assert run.main([*argv, "--grid", "target_delat=0.2,0.3"]) == 2
    assert "error: --grid 'target_delat=0.2,0.3': credit-spread has no parameter" in \
        capsys.readouterr().err
    assert run.main([*argv, "--grid", "width=5,10", "--heatmap", "width,dte_min"]) == 2
    assert "--heatmap width,dte_min: dte_min is not a --grid parameter" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
