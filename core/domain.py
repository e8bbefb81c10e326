"""The trading vocabulary shared by every layer: regime names, signal codes, calendar and
contract constants. One definition each, so a model, an indicator, a strategy and a report
can never disagree on what ``2`` or ``"consolidation"`` means."""

#: The five named market states of seed 000, in index order.
REGIME_NAMES = (
    "low_volatility_uptrend",
    "momentum_uptrend",
    "consolidation",
    "high_volatility_downtrend",
    "high_volatility_rally",
)

#: Seed 000's strategy classes: the signal line's values and the LSTM's label codes.
HOLD, CALL_CREDIT_SPREAD, PUT_CREDIT_SPREAD = 0, 1, 2
#: Names of the strategy classes, in code order.
CLASS_NAMES = ("hold", "call_credit_spread", "put_credit_spread")
SIGNAL_NAMES = dict(enumerate(CLASS_NAMES))

#: The strategy model's heads (``models.strategy_model``); the first is the default.
STRATEGY_HEADS = ("regime", "lstm")

#: The ``direction`` line's values: +1 buy, 0 neutral, -1 sell.
DIRECTION_NAMES = {1: "BUY", 0: "NEUTRAL", -1: "SELL"}

#: Sessions in a trading year: annualises returns and volatilities, sizes training windows.
TRADING_DAYS = 252

#: Shares per equity option contract.
MULTIPLIER = 100

#: Dollars per option contract and leg the simulated brokers charge by default (IB's
#: US equity-option rate for small orders).
CONTRACT_COMMISSION = 0.65

#: The largest random seed: numpy's legacy generators (hmmlearn, scikit-learn) take 0 to
#: 2**32 - 1.
MAX_SEED = 2**32 - 1
