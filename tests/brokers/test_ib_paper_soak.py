"""The multi-day soak (``bench/soak_paper.py``; ``tests/fakes/paper_soak.py`` says what it
replays) run
in a process of its own, so its peak RSS is the paper loop's and not this test session's.
About 10 seconds: marked ``slow`` but still run by ``make test`` (CI); ``-m 'not slow'``
skips it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_RSS_MB = 400


@pytest.mark.slow
def test_five_days_of_5s_bars_with_drops_outage_dst_and_assignment(tmp_path):
    out = tmp_path / "soak.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "soak_paper.py"), "--json",
                           str(out), "--max-rss-mb", str(MAX_RSS_MB)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(out.read_text())
    # journal, broker and the fake's ledger agree on fills, commissions, cash, positions
    # and open spreads; no order reached the fake twice; ib_async logged nothing unexpected
    assert figures["mismatches"] == []
    assert figures["log_problems"] == []
    assert figures["five_second_bars"] == 5 * 4680
    assert figures["strategy_bars"] == 5 * 78
    assert figures["orders"] == 36  # 30 share orders, 4 spread openings, 2 closings
    assert figures["fills"] == 48  # 30 stock executions, 6 combos of 2 legs + the combo's
    # three drops mid-order and the 1100 and 1101 notices, each a full reconnect
    assert figures["drops_mid_order"] == 3 and figures["reconnects"] == 5
    assert figures["dropped_orders_filled"] == 3
    assert figures["fills_booked_at_reconnect"] >= 1 + 3 + 3  # while away: a stock, 2 combos
    assert figures["outage_notices"] == ["IB connection lost",
                                         "IB connection restored, data lost"]
    assert figures["assignments"] == 1
    assert (figures["open_spreads"], figures["closed_spreads"]) == (2, 3)
    # every session opens at 09:30 New York time: 14:30 UTC before the clocks change on
    # 2024-03-10, 13:30 UTC after
    assert figures["session_opens_ny_utc"] == [
        ["2024-03-06 09:30", "14:30"], ["2024-03-07 09:30", "14:30"],
        ["2024-03-08 09:30", "14:30"], ["2024-03-11 09:30", "13:30"],
        ["2024-03-12 09:30", "13:30"]]
    assert figures["max_rss_mb"] < MAX_RSS_MB
    assert done.returncode == 0 and "soak: OK" in done.stdout
