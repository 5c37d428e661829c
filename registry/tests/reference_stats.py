#!/usr/bin/env python3
"""Reference figures for registry/tests/trial_report.rs, computed with scipy
and numpy independently of joust's Rust code.

Usage: python3 registry/tests/reference_stats.py [--write-fixture]
(needs scipy and numpy, e.g. python3 -m venv bench/.venv &&
bench/.venv/bin/pip install scipy numpy, then bench/.venv/bin/python ...)

--write-fixture regenerates registry/tests/fixtures/trial_records.json (a
fixed, seeded record set). Without it the script reads the fixture and
prints the reference figures that the Rust test hard-codes.
"""
import json
import os
import sys

import numpy as np
from scipy import integrate, optimize, stats

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "fixtures", "trial_records.json")
WEIGHT = 0.25  # configured challenger share for the SRM test


def write_fixture():
    rng = np.random.RandomState(20240605)
    records = []
    for i in range(600):
        rows = int(rng.randint(1, 4))
        base = rng.normal(0.0, 1.0, rows)
        champ_scores = [round(float(x), 6) for x in base]
        chall_scores = [round(float(x + rng.normal(0.1, 0.3)), 6) for x in base]
        rec = {
            "record_id": f"r{i}",
            "served": "challenger" if rng.rand() < 0.3 else "champion",
            "champion": None,
            "challenger": None,
        }
        if rng.rand() < 0.03:
            rec["champion"] = {"version": 1, "scores": [], "labels": [],
                               "latency_us": int(rng.randint(50, 500)), "status_code": 14}
        else:
            rec["champion"] = {"version": 1, "scores": champ_scores,
                               "labels": [s > 1.2 for s in champ_scores],
                               "latency_us": int(rng.gamma(4.0, 50.0)), "status_code": 0}
        if rng.rand() < 0.8:
            if rng.rand() < 0.05:
                rec["challenger"] = {"version": 2, "scores": [], "labels": [],
                                     "latency_us": int(rng.randint(50, 500)), "status_code": 4}
            else:
                rec["challenger"] = {"version": 2, "scores": chall_scores,
                                     "labels": [s > 1.1 for s in chall_scores],
                                     "latency_us": int(rng.gamma(4.0, 60.0)), "status_code": 0}
        if rec["challenger"] is None:
            # Only a request the challenger saw can have been served by it.
            rec["served"] = "champion"
        records.append(rec)
    with open(FIXTURE, "w") as f:
        json.dump(records, f, indent=0)


def wilson(k, n):
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return ci.low, ci.high


def arm_figures(records, arm):
    res = [r[arm] for r in records if r[arm] is not None]
    ok = [r for r in res if r["status_code"] == 0]
    labels = [l for r in ok for l in r["labels"]]
    scores = np.array([s for r in ok for s in r["scores"]])
    lat = np.array([r["latency_us"] for r in ok], dtype=float)
    k, n = int(sum(labels)), len(labels)
    lo, hi = wilson(k, n)
    return {
        "requests": len(res), "errors": len(res) - len(ok), "rows": n, "anomalies": k,
        "rate": k / n, "wilson_low": lo, "wilson_high": hi,
        "score_q": [float(np.quantile(scores, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)],
        "lat_p50": float(np.quantile(lat, 0.5)), "lat_p95": float(np.quantile(lat, 0.95)),
        "lat_p99": float(np.quantile(lat, 0.99)),
    }, scores


# ---- Confidence sequences (registry/src/trials/sequential.rs) ----
PLANNED_UNITS = 10_000.0
GATE_CONFIDENCE = 0.95
SEQUENTIAL_GATES = 5  # all five sequential gates set: alpha 0.01 each
SRM_ALPHA = 0.001


def rho2(alpha):
    l = -2.0 * np.log(alpha)
    return (l + np.log(l + 1.0)) / PLANNED_UNITS


def half_width(var, t, alpha):
    """Normal-mixture boundary (Waudby-Smith et al. 2024, Thm 2.2)."""
    r = rho2(alpha)
    return np.sqrt(var * 2.0 * (t * r + 1.0) / (t * t * r) * np.log(np.sqrt(t * r + 1.0) / alpha))


def half_width_by_quadrature(var, t, alpha):
    """The same boundary found independently: the sum s at which the
    Gaussian mixture of exp(l*s - l^2*t/2) over l ~ N(0, 1/(rho2*... )) (in
    units of sigma) reaches 1/alpha, by numerical integration and root
    finding."""
    r = rho2(alpha)  # mixing variance of the drift, per unit of sigma^2

    def log_mixture(s):
        # log E_l[exp(l s - l^2 t / 2)], l ~ N(0, r), in a stable form.
        scale = np.sqrt(r)
        peak = s * r / (1.0 + t * r)
        f = lambda l: np.exp(l * s - l * l * t / 2.0 - l * l / (2.0 * r) - (peak * s - peak * peak * t / 2.0 - peak * peak / (2.0 * r)))
        width = 1.0 / np.sqrt(t + 1.0 / r)
        val, _ = integrate.quad(f, peak - 40 * width, peak + 40 * width, epsabs=0, epsrel=1e-13, limit=200)
        return np.log(val / (np.sqrt(2 * np.pi) * scale)) + (peak * s - peak * peak * t / 2.0 - peak * peak / (2.0 * r))

    target = np.log(1.0 / alpha)
    s = optimize.brentq(lambda s: log_mixture(s) - target, 0.0, 1e3 * np.sqrt(t) + 100.0, xtol=1e-14, rtol=1e-15)
    return np.sqrt(var) * s / t


def bern_var(k, n):
    p = (k + 1.0) / (n + 2.0)
    return p * (1.0 - p)


def cs_rate(k, n, alpha):
    est = k / n
    h = half_width(bern_var(k, n), n, alpha)
    return [est, max(est - h, 0.0), min(est + h, 1.0)]


def cs_diff(ka, na, kb, nb, alpha):
    var_est = bern_var(ka, na) / na + bern_var(kb, nb) / nb
    t = na + nb
    h = half_width(var_est * t, t, alpha)
    est = kb / nb - ka / na
    return [est, max(est - h, -1.0), min(est + h, 1.0)]


def cs_clustered_diff(ra, rb, alpha):
    """Anomaly-rate difference with requests as units: ra, rb are lists of
    (rows, anomalies) per labelled request; cluster-robust variance
    sum((a_i - p n_i)^2) / n^2, at least p~(1-p~)/n."""
    def var(reqs):
        n = np.array([r for r, _ in reqs], dtype=float)
        a = np.array([k for _, k in reqs], dtype=float)
        p = a.sum() / n.sum()
        cluster = np.sum((a - p * n) ** 2) / n.sum() ** 2
        return max(cluster, bern_var(a.sum(), n.sum()) / n.sum()), a.sum() / n.sum()
    va, pa = var(ra)
    vb, pb = var(rb)
    t = len(ra) + len(rb)
    h = half_width((va + vb) * t, t, alpha)
    est = pb - pa
    return [est, max(est - h, -1.0), min(est + h, 1.0)]


def cs_quantile(x, q, alpha):
    x = np.sort(np.asarray(x, dtype=float))
    n = len(x)
    b = half_width(q * (1 - q), n, alpha)
    i = int(np.ceil(n * (q - b)))
    j = int(np.floor(n * (q + b))) + 1
    low = 0.0 if i < 1 else float(x[min(i, n) - 1])
    high = float("inf") if j > n else float(x[max(j, 1) - 1])
    return [float(np.quantile(x, q)), low, high]


def cs_quantile_ratio(xa, xb, q, alpha):
    a = cs_quantile(xa, q, alpha / 2)
    b = cs_quantile(xb, q, alpha / 2)
    div = lambda u, v: u / v if v > 0 else float("inf")
    low = div(b[1], a[2]) if np.isfinite(a[2]) else 0.0
    return [b[0] / a[0], low, div(b[2], a[1])]


def sequential_figures(records, a, b, n11, n00, paired):
    alpha = (1 - GATE_CONFIDENCE) / SEQUENTIAL_GATES
    for var, t in [(0.25, 100.0), (0.09, 1000.0), (0.0099, 25_000.0)]:
        closed, quad = half_width(var, t, alpha), half_width_by_quadrature(var, t, alpha)
        assert abs(closed - quad) < 1e-9 * closed, (closed, quad)
    lat = lambda arm: [r[arm]["latency_us"] for r in records if r[arm] is not None and r[arm]["status_code"] == 0]
    served_b = sum(1 for r in records if r["served"] == "challenger")
    rows = lambda arm: [(len(r[arm]["labels"]), sum(r[arm]["labels"])) for r in records
                        if r[arm] is not None and r[arm]["status_code"] == 0 and r[arm]["labels"]]
    return {
        "gate_alpha": alpha,
        "cs_challenger_error_rate": cs_rate(b["errors"], b["requests"], alpha),
        "cs_error_rate_delta": cs_diff(a["errors"], a["requests"], b["errors"], b["requests"], alpha),
        "cs_anomaly_rate_delta": cs_clustered_diff(rows("champion"), rows("challenger"), alpha),
        "cs_agreement": cs_rate(n00 + n11, paired, alpha),
        "cs_p99_ratio": cs_quantile_ratio(lat("champion"), lat("challenger"), 0.99, alpha),
        "cs_served_share": cs_rate(served_b, len(records), SRM_ALPHA),
        "cs_p50_champion_latency": cs_quantile(lat("champion"), 0.5, alpha),
        "cs_p50_challenger_latency": cs_quantile(lat("challenger"), 0.5, alpha),
    }


def main():
    if "--write-fixture" in sys.argv:
        write_fixture()
    with open(FIXTURE) as f:
        records = json.load(f)
    a, sa = arm_figures(records, "champion")
    b, sb = arm_figures(records, "challenger")

    # Two-proportion z-test (pooled), challenger minus champion.
    p1, p2 = a["anomalies"] / a["rows"], b["anomalies"] / b["rows"]
    pooled = (a["anomalies"] + b["anomalies"]) / (a["rows"] + b["rows"])
    z = (p2 - p1) / np.sqrt(pooled * (1 - pooled) * (1 / a["rows"] + 1 / b["rows"]))
    z_p = 2 * stats.norm.sf(abs(z))
    table = [[a["anomalies"], a["rows"] - a["anomalies"]], [b["anomalies"], b["rows"] - b["anomalies"]]]
    chi2, p_chi2, _, _ = stats.chi2_contingency(table, correction=False)
    assert abs(chi2 - z * z) < 1e-9 and abs(p_chi2 - z_p) < 1e-12

    # Paired rows (both arms OK, same number of rows).
    n00 = n01 = n10 = n11 = 0
    diffs = []
    for r in records:
        c, d = r["champion"], r["challenger"]
        if c is None or d is None or c["status_code"] != 0 or d["status_code"] != 0:
            continue
        if len(c["labels"]) != len(d["labels"]):
            continue
        for la, lb in zip(c["labels"], d["labels"]):
            if la and lb: n11 += 1
            elif la: n10 += 1
            elif lb: n01 += 1
            else: n00 += 1
        diffs.extend(abs(y - x) for x, y in zip(c["scores"], d["scores"]))
    paired = n00 + n01 + n10 + n11
    agree_lo, agree_hi = wilson(n00 + n11, paired)
    mc_chi2 = (abs(n10 - n01) - 1) ** 2 / (n10 + n01)
    mc_p = stats.chi2.sf(mc_chi2, 1)

    # PSI on the champion's deciles, epsilon 1e-4 for empty bins.
    edges = np.quantile(sa, [i / 10 for i in range(1, 10)])
    ce = np.bincount(np.searchsorted(edges, sa, side="left"), minlength=10) / len(sa)
    cb = np.bincount(np.searchsorted(edges, sb, side="left"), minlength=10) / len(sb)
    ce = np.where(ce == 0, 1e-4, ce)
    cb = np.where(cb == 0, 1e-4, cb)
    psi = float(np.sum((cb - ce) * np.log(cb / ce)))

    # Sample-ratio mismatch against WEIGHT.
    served_b = sum(1 for r in records if r["served"] == "challenger")
    n = len(records)
    srm = stats.chisquare([n - served_b, served_b], f_exp=[n * (1 - WEIGHT), n * WEIGHT])

    out = {
        "champion": a, "challenger": b, "z": float(z), "z_p": float(z_p),
        "paired": paired, "agreement": (n00 + n11) / paired, "agree_lo": agree_lo,
        "agree_hi": agree_hi, "mcnemar_b": n10, "mcnemar_c": n01,
        "mcnemar_chi2": mc_chi2, "mcnemar_p": float(mc_p),
        "mean_abs_diff": float(np.mean(diffs)), "psi": psi,
        "srm_chi2": float(srm.statistic), "srm_p": float(srm.pvalue),
        "served_challenger": served_b, "records": n,
    }
    out.update(sequential_figures(records, a, b, n11, n00, paired))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
