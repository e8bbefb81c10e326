"""Training from data sources: seed 000's labels priced by the broker's spread rules (and
cached), the training pipeline, refits inside a backtest, and the baselines a model is
scored against. ``models/`` stays pure: it never reads a source, a cache or a broker."""
