#!/usr/bin/env python3
"""
Independent reference values for the RDP accountant's test fixture (rdp-reference.ts).

Computed from the definition, not from Opacus's series: for the Poisson-subsampled Gaussian
mechanism (sampling rate q, noise multiplier sigma), Mironov, Talwar and Zhang (2019) show that
the order-alpha RDP is log(A_alpha) / (alpha - 1) with

    A_alpha = integral over z of mu0(z) * (mu(z) / mu0(z)) ** alpha,
    mu0 = N(0, sigma^2),  mu = (1 - q) N(0, sigma^2) + q N(1, sigma^2),

which this script integrates numerically with mpmath (25 significant digits, tanh-sinh
quadrature, its error estimate checked below 1e-15 relative).
RDP composes additively over steps; (epsilon, delta) is the conversion of Balle et al. (2020,
Theorem 21), the minimum over the orders of
    T * rdp(alpha) - (log(delta) + log(alpha)) / (alpha - 1) + log((alpha - 1) / alpha).

Run: python3 domains/fl/privacy/reference/rdp_reference.py [rdp | epsilon]  (needs mpmath; "rdp" takes
a minute, "epsilon" about 45 minutes on two busy cores: 151 orders x 7 points of quadrature).
"""
import json
import sys

import mpmath as mp

mp.mp.dps = 25

DEFAULT_ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))


def a_alpha(q, sigma, alpha):
    q, sigma, alpha = mp.mpf(q), mp.mpf(sigma), mp.mpf(alpha)
    two_s2 = 2 * sigma * sigma

    def log_integrand(z):
        return -z * z / two_s2 + alpha * mp.log((1 - q) + q * mp.exp((2 * z - 1) / two_s2))

    def integrand(z):
        return mp.npdf(z, 0, sigma) * ((1 - q) + q * mp.exp((2 * z - 1) / two_s2)) ** alpha

    # Cut the line where the integrand lives (within e^-80 of its peak, on a half-unit grid),
    # so the quadrature's nodes land on the mass; the two infinite ends still cover the tails.
    grid = [mp.mpf(k) / 2 for k in range(-20, int(2 * (alpha + 10)))]
    logs = [log_integrand(z) for z in grid]
    peak = max(logs)
    live = [z for z, v in zip(grid, logs) if v > peak - 80]
    lo, hi = live[0], live[-1]
    cuts = [-mp.inf] + [lo + (hi - lo) * k / 8 for k in range(9)] + [mp.inf]
    value, error = mp.quad(integrand, cuts, maxdegree=8, error=True)
    assert error < value * mp.mpf("1e-15"), (q, sigma, alpha, value, error)
    return value


def rdp(q, sigma, alpha):
    if q == 1:
        return mp.mpf(alpha) / (2 * mp.mpf(sigma) ** 2)
    return mp.log(a_alpha(q, sigma, alpha)) / (mp.mpf(alpha) - 1)


def epsilon(q, sigma, steps, delta, orders=DEFAULT_ORDERS):
    best = None
    for alpha in orders:
        a = mp.mpf(alpha)
        eps = steps * rdp(q, sigma, alpha) - (mp.log(delta) + mp.log(a)) / (a - 1) + mp.log((a - 1) / a)
        if best is None or eps < best[0]:
            best = (eps, alpha)
    return best


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "epsilon"
    if which == "epsilon":
        points = [
            (0.04, 1.5, 2250, 1e-5),
            (0.01, 1.1, 10000, 1e-5),
            (0.1, 1.0, 100, 1e-5),
            (0.05, 0.7, 500, 1e-6),
            (0.001, 4.0, 1000, 1e-5),
            (0.5, 2.0, 50, 1e-5),
            (1.0, 5.0, 10, 1e-5),
        ]
        for q, sigma, steps, delta in points:
            eps, order = epsilon(q, sigma, steps, delta)
            print(json.dumps({"q": q, "sigma": sigma, "steps": steps, "delta": delta, "epsilon": mp.nstr(eps, 17), "order": order}), flush=True)
    elif which == "rdp":
        # Per-order RDP at the points dp_accounting's tests publish, and log(A) at TF Privacy's test points.
        for alpha in [1.5, 2.5, 5, 50, 100]:
            print(json.dumps({"q": 0.01, "sigma": 2.5, "steps": 50, "order": alpha, "rdp": mp.nstr(50 * rdp(0.01, 2.5, alpha), 17)}), flush=True)
        print(json.dumps({"q": 0.1, "sigma": 2, "steps": 10, "order": 5, "rdp": mp.nstr(10 * rdp(0.1, 2, 5), 17)}), flush=True)
        for q, sigma, alpha in [(1e-7, 0.1, 1.01), (1e-6, 0.1, 256), (1e-5, 0.1, 256.1), (1e-6, 1, 27), (1e-4, 1.0, 1.5),
                                (1e-3, 1.0, 2), (0.01, 10, 20), (0.1, 100, 20.5), (0.99, 0.1, 256), (0.999, 100, 256.1)]:
            print(json.dumps({"q": q, "sigma": sigma, "order": alpha, "logA": mp.nstr(mp.log(a_alpha(q, sigma, alpha)), 17)}), flush=True)
