"""``run.py backtest --plot``: backtrader's own ``cerebro.plot()`` figure, drawn headless
(no display here), saved into the report folder beside the other pictures."""

from __future__ import annotations

import run


def test_plot_saves_backtraders_own_figure_into_the_report(tmp_path, capsys):
    report = tmp_path / "report"
    assert run.main(["backtest", "--source", "sample", "--symbols", "SPY", "--start-date",
                     "2024-02-01", "--end-date", "2024-03-28", "--plot", "-q",
                     "--report", str(report)]) == 0
    png = report / "SPY" / "backtrader_plot.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "SPY/backtrader_plot.png" in (report / "index.html").read_text()
    capsys.readouterr()


def test_plot_without_a_report_is_refused(capsys):
    assert run.main(["backtest", "--source", "sample", "--symbols", "SPY", "--plot",
                     "--no-report"]) == 2
    assert capsys.readouterr().err.startswith("error: --plot saves its figure into the report")
