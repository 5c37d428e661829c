#!/usr/bin/env python3
"""Reference figures for registry/tests/trial_report.rs, computed with scipy
and numpy independently of joust's Rust code.

Usage: python3 registry/tests/reference_stats.py [--write-fixture]

--write-fixture regenerates registry/tests/fixtures/trial_records.json (a
fixed, seeded record set). Without it the script reads the fixture and
prints the reference figures that the Rust test hard-codes.
"""
import json
import os
import sys

import numpy as np
from scipy import stats

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
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
