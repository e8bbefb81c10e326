"""The backtest spine as a library: source -> feed -> signal indicator -> strategy ->
analyzers (``engine.backtest``), its printed summary (``engine.summary``) and the same
strategies assembled on IB for paper trading (``engine.paper``). Commands and benchmarks
use it; it never parses a command line."""
