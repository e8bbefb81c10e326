"""Black-Scholes prices and greeks, vectorised over numpy arrays (no dividends).

Pure maths used by the option chains in ``feeds/`` and later by the brokers. Time is in
years, rates and volatilities are annualised decimals, ``is_call`` is a boolean array.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

_SQRT_2PI = np.sqrt(2.0 * np.pi)


def _d1_d2(spot, strike, years, rate, vol):
    vol_sqrt_t = vol * np.sqrt(years)
    d1 = (np.log(spot / strike) + (rate + 0.5 * vol * vol) * years) / vol_sqrt_t
    return d1, d1 - vol_sqrt_t


def black_scholes_price(spot, strike, years, rate, vol, is_call):
    """European option value. Put and call at the same strike satisfy put-call parity.

    Where every contract is on one side only that side's formula is evaluated (the
    brokers price a spread's two legs, always of one right, on every bar of its life):
    the same numbers as computing both and picking."""
    spot, strike, years, rate, vol = (np.asarray(x, dtype=float)
                                      for x in (spot, strike, years, rate, vol))
    is_call = np.asarray(is_call, dtype=bool)
    d1, d2 = _d1_d2(spot, strike, years, rate, vol)
    discount = np.exp(-rate * years)
    # each side only where some contract is on it (no contract at all: the call's formula)
    put = strike * discount * ndtr(-d2) - spot * ndtr(-d1) if not is_call.all() else None
    call = (spot * ndtr(d1) - strike * discount * ndtr(d2)
            if is_call.any() or put is None else None)
    value = np.asarray(put if call is None else call if put is None
                       else np.where(is_call, call, put))
    if is_call.ndim == 0 or is_call.shape == value.shape:  # the usual case, checked cheaply
        return value
    shape = np.broadcast_shapes(value.shape, is_call.shape)
    return value if value.shape == shape else np.broadcast_to(value, shape).copy()


def black_scholes_delta(spot, strike, years, rate, vol, is_call) -> np.ndarray:
    """Delta alone, the number ``black_scholes_greeks`` gives (leg choice needs only it).

    The inputs broadcast through the arithmetic itself (elementwise, so the same numbers as
    broadcasting them first, as the greeks do, without its cost per call)."""
    d1, _ = _d1_d2(*(np.asarray(x, dtype=float) for x in (spot, strike, years, rate, vol)))
    return np.asarray(_delta(d1, is_call))


def _delta(d1, is_call):
    return np.where(is_call, ndtr(d1), ndtr(d1) - 1.0)


def black_scholes_greeks(spot, strike, years, rate, vol, is_call) -> dict[str, np.ndarray]:
    """delta, gamma, theta (per calendar day) and vega (per 1 volatility point)."""
    spot, strike, years, rate, vol = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (spot, strike, years, rate, vol))
    )
    d1, d2 = _d1_d2(spot, strike, years, rate, vol)
    pdf = np.exp(-0.5 * d1 * d1) / _SQRT_2PI
    sqrt_t = np.sqrt(years)
    discount = np.exp(-rate * years)
    delta = _delta(d1, is_call)
    gamma = pdf / (spot * vol * sqrt_t)
    decay = -spot * pdf * vol / (2.0 * sqrt_t)
    theta_call = decay - rate * strike * discount * ndtr(d2)
    theta_put = decay + rate * strike * discount * ndtr(-d2)
    theta = np.where(is_call, theta_call, theta_put) / 365.0
    vega = spot * pdf * sqrt_t / 100.0
    return {"delta": delta, "gamma": gamma, "theta": theta, "vega": vega}


def intrinsic_value(spot, strike, is_call):
    """Value at expiry: what a cash-settled option pays per share."""
    spot = np.asarray(spot, dtype=float)
    strike = np.asarray(strike, dtype=float)
    return np.where(is_call, np.maximum(spot - strike, 0.0), np.maximum(strike - spot, 0.0))
