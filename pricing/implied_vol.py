"""Implied volatility: the Black-Scholes volatility that reproduces an option's price,
solved for whole arrays at once.

Safeguarded Newton: every element keeps a bracket [lo, hi] that holds the root (the price is
increasing in volatility), takes a Newton step when it lands inside the bracket and bisects
otherwise, so it converges for deep in- and out-of-the-money options where plain Newton
overshoots. A price outside the no-arbitrage bounds (below the discounted intrinsic value,
at or above the spot for a call or the discounted strike for a put) or needing a volatility
outside [``low``, ``high``] has no implied volatility: NaN, never a made-up number.
Same conventions as ``pricing.black_scholes`` (years, annualised decimals, no dividends).
"""

from __future__ import annotations

import numpy as np

from pricing.black_scholes import black_scholes_price

_SQRT_2PI = np.sqrt(2.0 * np.pi)


def price_bounds(spot, strike, years, rate, is_call) -> tuple[np.ndarray, np.ndarray]:
    """No-arbitrage (lower, upper) bounds of a European option's price."""
    discounted = strike * np.exp(-rate * years)
    lower = np.where(is_call, np.maximum(spot - discounted, 0.0),
                     np.maximum(discounted - spot, 0.0))
    upper = np.where(is_call, spot, discounted)
    return lower, upper


def implied_volatility(price, spot, strike, years, rate, is_call, *, low: float = 1e-3,
                       high: float = 5.0, tol: float = 1e-7, max_iter: int = 100) -> np.ndarray:
    """Volatility per element so that Black-Scholes gives ``price`` (NaN where none does)."""
    price, spot, strike, years, rate, is_call = np.broadcast_arrays(
        np.asarray(price, dtype=float), np.asarray(spot, dtype=float),
        np.asarray(strike, dtype=float), np.asarray(years, dtype=float),
        np.asarray(rate, dtype=float), np.asarray(is_call, dtype=bool))
    shape = price.shape
    price, spot, strike, years, rate, is_call = (a.ravel() for a in
                                                 (price, spot, strike, years, rate, is_call))
    out = np.full(price.shape, np.nan)
    lower, upper = price_bounds(spot, strike, years, rate, is_call)
    valid = (np.isfinite(price) & np.isfinite(spot) & np.isfinite(strike) & (spot > 0)
             & (strike > 0) & (years > 0) & (price > lower) & (price < upper))
    idx = np.flatnonzero(valid)
    if len(idx) == 0:
        return out.reshape(shape)
    p, s, k, t, r, c = (a[idx] for a in (price, spot, strike, years, rate, is_call))
    lo, hi = np.full(len(idx), low), np.full(len(idx), high)
    reachable = ((black_scholes_price(s, k, t, r, lo, c) <= p)
                 & (black_scholes_price(s, k, t, r, hi, c) >= p))
    # Brenner-Subrahmanyam start, inside the bracket
    sigma = np.clip(np.sqrt(2.0 * np.pi / t) * p / s, 2 * low, high / 2)
    done = ~reachable
    sqrt_t = np.sqrt(t)
    for _ in range(max_iter):
        active = ~done
        if not active.any():
            break
        diff = black_scholes_price(s, k, t, r, sigma, c) - p
        converged = np.abs(diff) <= tol * np.maximum(p, 1e-2)
        done |= converged & active
        hi = np.where(diff > 0, sigma, hi)
        lo = np.where(diff <= 0, sigma, lo)
        d1 = (np.log(s / k) + (r + 0.5 * sigma * sigma) * t) / (sigma * sqrt_t)
        vega = s * np.exp(-0.5 * d1 * d1) / _SQRT_2PI * sqrt_t
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = sigma - diff / vega
        inside = np.isfinite(newton) & (newton > lo) & (newton < hi)
        step = np.where(inside, newton, 0.5 * (lo + hi))
        sigma = np.where(done, sigma, step)
        done |= (hi - lo) < 1e-10
    result = np.where(reachable, sigma, np.nan)
    out[idx] = result
    return out.reshape(shape)

