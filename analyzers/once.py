"""Build an analyzer's result once per state of the run, not once per reader.

backtrader asks every analyzer for ``get_analysis()`` when the run stops (``Cerebro``'s
writers, even with none added) and the backtest asks again to collect: for the analyzers
that turn a whole run into pandas frames (the option legs' positions, the spread rows) the
second build was a tenth of a credit-spread backtest. ``AnalysisOnce`` keeps the result
while the run has not moved on (same bar count) and hands each reader its own copy, so a
reader that edits its frames cannot change another's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable


class AnalysisOnce:
    """Mixin for a ``bt.Analyzer``: ``self._once(build)`` returns ``build()``'s result,
    built once per bar count of the strategy, as a deep copy per call."""

    _once_memo: tuple[int, object] | None = None

    def _once(self, build: Callable[[], object]) -> object:
        key = len(self.strategy)
        if self._once_memo is None or self._once_memo[0] != key:
            self._once_memo = (key, build())
        return copy.deepcopy(self._once_memo[1])
