"""What the journal buys: a restarted process knows its spreads and books nothing twice;
the daily loss limit refuses new positions but lets positions be reduced."""

from __future__ import annotations

import pytest

from brokers.journal import Journal
from brokers.spreads import SpreadRequest
from tests.fakes.fake_tws import FakeTWS
from tests.fakes.ib_harness import (
    PaperRun,
    frame_bars,
    ib_history,
    ib_log_fixture,  # noqa: F401 (the ib_log fixture)
    zigzag_bars,
)

REQUEST = SpreadRequest("SPY", "put_credit", target_delta=0.30, width=5.0, contracts=2)


def test_restarted_process_reloads_spreads_and_books_nothing_twice(sample_market, tmp_path,
                                                                    ib_log):
    frame = sample_market.bars("SPY", "2022-09-01", "2023-01-31")
    bars = frame_bars(frame)
    history, live = bars[:80], bars[80:84]
    chain = sample_market.option_chain("SPY")
    path = tmp_path / "journal.sqlite"
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=history[-1][4])
        tws.set_history("SPY", ib_history(history))
        tws.add_chain_frame("SPY", chain.chain(live[0][0]))
        opening = {0: lambda s: s.broker.open_credit_spread(s, s.data, REQUEST)}
        with PaperRun(tws, history, live[:2], strategy="scripted", actions=opening,
                      journal=Journal(path)) as first:
            first.finish()
        opened = first.broker.open_spreads()[0]
        cash = first.broker.cash_total()

        closing = {0: lambda s: s.broker.close_spread(s, s.broker.open_spreads()[0].id, "exit")}
        with PaperRun(tws, history, live[2:], strategy="scripted", actions=closing,
                      journal=Journal(path)) as second:
            restored = second.broker.open_spreads()
            assert [(p.id, p.short, p.long, p.contracts, p.entry_credit) for p in restored] == \
                [(opened.id, opened.short, opened.long, 2, opened.entry_credit)]
            report = second.broker.reconcile_reports[0]
            assert report == {"reconnect": False, "new_fills": 0, "lost_orders": [],
                              "position_diffs": []}
            assert second.broker.cash_total() == pytest.approx(cash, abs=0.01)
            second.finish()
    assert len(tws.placed) == 2 and tws.placed[1].action == "BUY"
    assert second.broker.open_spreads() == []
    assert second.broker.closed_spreads()[0].tag == "exit"
    journal = Journal(path)
    assert [o["status"] for o in journal.orders()] == ["completed", "completed"]
    assert sum(f["booked"] == 1 for f in journal.fills()) == 4  # two legs, twice


def test_daily_loss_limit_refuses_new_positions_not_reductions(ib_log):
    history = zigzag_bars(80)
    live = zigzag_bars(83)[80:]
    live[1] = (live[1][0], 80.0, 80.0, 80.0, 80.0, 1000.0)  # a crash on the second bar

    def reduce_and_add(s):
        s.buy(size=10)  # would add exposure: refused
        s.sell(size=50)  # reduces the position: still sent

    actions = {0: lambda s: s.buy(size=100), 1: reduce_and_add}
    with FakeTWS(stock_commission=lambda shares, price: 1.0) as tws:
        tws.add_stock("SPY", 756733, price=history[-1][4])
        tws.set_history("SPY", ib_history(history))
        with PaperRun(tws, history, live, strategy="scripted", actions=actions,
                      settings={"max_daily_loss": 1_000.0}) as run:
            run.finish()
    refused = [n[1]["reason"] for n in run.notes if n[0] == "Rejected"]
    assert len(refused) == 1 and refused[0].startswith("daily max loss reached: down ")
    assert [(p.action, p.quantity) for p in tws.placed] == [("BUY", 100), ("SELL", 50)]
    assert run.broker.getposition(run.datas[0]).size == 50


def test_a_file_that_is_not_a_journal_is_refused_naming_it_and_left_as_it_is(tmp_path, capsys):
    """A CSV given as --journal (a typo, a tab completed to the wrong file) stops the run
    with one error line before anything connects; it was sqlite3's traceback."""
    import run
    from core.errors import DataError

    other = tmp_path / "bars.csv"
    other.write_text("date,open,high,low,close,volume\n2024-01-02,1,1,1,1,1\n")
    before = other.read_bytes()
    with pytest.raises(DataError, match=f"{other} is not a paper journal"):
        Journal(other)
    assert run.main(["paper", "--journal", str(other)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --journal {other} is not a paper journal (an SQLite file: "
                          "file is not a database)")
    assert "Traceback" not in err and other.read_bytes() == before
