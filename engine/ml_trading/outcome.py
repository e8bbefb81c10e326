"""One symbol's result in an ml-trading run, and the remarks printed before the results."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.errors import DataError


@dataclass
class Outcome:
    """What one symbol's run gave: a summary line, or an error."""

    symbol: str
    source: str = ""
    line: str = ""
    error: str | None = None
    model: object = None
    #: backtest with several seeds: each seed's walk-forward table, the trading model's first
    seed_evaluations: list = field(default_factory=list)
    model_note: str = ""
    signal: dict | None = None
    result: object = None
    changes: list = field(default_factory=list)
    #: trading: (session, the bars before it the model needs, the partial bars)
    replay: tuple | None = None
    #: trading: the model's stream fed those bars before the session (``score_partial``)
    live: object = None

    def summary_line(self) -> str:
        return f"{self.symbol}: error: {self.error}" if self.error else f"{self.symbol}: {self.line}"


def per_symbol(outcome: Outcome, work) -> None:
    """Run ``work``; a DataError becomes this symbol's error and the run goes on."""
    try:
        work()
    except DataError as exc:
        outcome.error = str(exc).removeprefix(f"{outcome.symbol}: ")


class Notes:
    """Remarks printed once each before the results, with the symbols they concern."""

    def __init__(self):
        self._symbols: dict[str, list[str]] = {}

    def add(self, text: str, symbol: str) -> None:
        self._symbols.setdefault(text, []).append(symbol)

    def lines(self) -> list[str]:
        return [f"note: {text} ({', '.join(symbols)})" for text, symbols in self._symbols.items()]
