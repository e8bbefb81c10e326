"""Pure option maths with no data and no framework: Black-Scholes prices and greeks,
implied volatility, and the listed contracts' conventions (strike grid, OCC symbols).

Feeds, brokers, models and training all price with it; it imports nothing of ours but the
core.
"""
