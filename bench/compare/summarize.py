"""Before/after summary for bench/compare-commits.

Usage: summarize.py RESULTS_DIR BEFORE_COMMIT AFTER_COMMIT

Reads RESULTS_DIR/{before,after}-rN-{w2,router,w10}.json and
RESULTS_DIR/{before,after}-rN-load.txt (one round N per interleaved pass).
For every figure: the per-round values of each side, their medians, after
/ before, and a verdict: "within noise" when the two sides' ranges over
the rounds overlap, else "better" or "worse" (by the figure's direction).
Prints JSON on stdout and the Markdown tables on stderr.
"""
import glob
import json
import os
import re
import statistics
import sys

SIDES = ("before", "after")


def rounds(dir_):
    out = {s: {} for s in SIDES}
    for path in glob.glob(os.path.join(dir_, "*-r*-*.*")):
        m = re.match(r"(before|after)-r(\d+)-(w2|router|w10|load)\.(json|txt)$", os.path.basename(path))
        if not m:
            continue
        side, n, kind = m.group(1), int(m.group(2)), m.group(3)
        text = open(path).read()
        out[side].setdefault(n, {})[kind] = text.strip() if kind == "load" else json.loads(text)
    return out


def w2_figures(r):
    f = {}
    res = r["results"]
    for x in res:
        api, open_loop = x["api"].lower(), "open" in json.dumps(x["mode"]).lower()
        key = f"{x['workload'].split()[0]} {api}" + (" open" if open_loop else "")
        f[f"{key} req/s"] = x["throughput_rps"]
        f[f"{key} p50 µs"] = x["p50_us"]
        f[f"{key} p99 µs"] = x["p99_us"]
        if "node_cpu_us_per_request" in x:
            f[f"{key} node CPU µs/request"] = x["node_cpu_us_per_request"]
    f["W2/W1 req/s oip"] = r["w2_over_w1_throughput"]["oip"]
    f["W2/W1 req/s native"] = r["w2_over_w1_throughput"]["native"]
    f["promotion → served median ms"] = r["propagation_ms"]["median"]
    return f


def router_figures(r):
    f = {}
    for row in (r.get("w5") or {}).get("rows", []):
        p, c = row["path"], row["concurrency"]
        f[f"{p} C={c} req/s"] = row["throughput_rps"]
        f[f"{p} C={c} p50 µs"] = row["p50_us"]
        f[f"{p} C={c} p99 µs"] = row["p99_us"]
    for a in (r.get("w5") or {}).get("added", []):
        f[f"{a['path']} C={a['concurrency']} added p50 µs"] = a["added_p50_us"]
        f[f"{a['path']} C={a['concurrency']} added p99 µs"] = a["added_p99_us"]
    w6 = r.get("w6") or {}
    for row in w6.get("rows", []):
        f[f"{row['mode']} router CPU µs/request"] = row["router_cpu_us_per_request"]
        f[f"{row['mode']} registry CPU µs/request"] = row["registry_cpu_us_per_request"]
        f[f"{row['mode']} p50 µs"] = row["p50_us"]
    if "shadow_over_split" in w6:
        f["shadow / split router CPU"] = w6["shadow_over_split"]
    return f


def w10_figures(r):
    return {"records/s": r["median_records_per_s"]}


# (table, figure, higher is better, kept in the Markdown)
TABLES = {
    "W2 (serving node, serving_bench)": ("w2", w2_figures, [
        ("W2 oip req/s", True), ("W2 oip p50 µs", False), ("W2 oip p99 µs", False),
        ("W2 oip node CPU µs/request", False),
        ("W2 native req/s", True), ("W2 native p50 µs", False), ("W2 native node CPU µs/request", False),
        ("W1 oip req/s", True), ("W2/W1 req/s oip", True), ("W2/W1 req/s native", True),
        ("W2 oip open p50 µs", False), ("W2 oip open p99 µs", False),
        ("promotion → served median ms", False),
    ]),
    "W5 (router added latency and throughput; nginx is the same binary on both sides: a control)": ("router", router_figures, [
        ("direct C=1 p50 µs", False), ("router C=1 p50 µs", False), ("router C=1 p99 µs", False),
        ("router C=1 added p50 µs", False), ("router C=1 added p99 µs", False),
        ("nginx C=1 added p50 µs", False),
        ("direct C=64 req/s", True), ("router C=64 req/s", True), ("router C=64 p99 µs", False),
        ("nginx C=64 req/s", True),
    ]),
    "W6 (router CPU per request at a fixed offered rate)": ("router", router_figures, [
        ("split router CPU µs/request", False), ("shadow router CPU µs/request", False),
        ("shadow / split router CPU", False),
        ("split registry CPU µs/request", False), ("shadow registry CPU µs/request", False),
        ("split p50 µs", False), ("shadow p50 µs", False),
    ]),
    "W10 (comparison-record ingest into PostgreSQL)": ("w10", w10_figures, [
        ("records/s", True),
    ]),
}


def fmt(x):
    if x is None:
        return "—"
    a = abs(x)
    if a >= 100:
        return f"{x:,.0f}"
    if a >= 10:
        return f"{x:.1f}"
    return f"{x:.3f}" if a < 1 else f"{x:.2f}"


def main():
    dir_, before_commit, after_commit = sys.argv[1:4]
    data = rounds(dir_)
    out = {"before": before_commit, "after": after_commit, "tables": {}}
    loads = {s: [data[s][n].get("load", "") for n in sorted(data[s])] for s in SIDES}
    out["load_average"] = loads
    for title, (kind, extract, figures) in TABLES.items():
        vals = {s: {} for s in SIDES}
        for s in SIDES:
            for n in sorted(data[s]):
                r = data[s][n].get(kind)
                if r is None:
                    continue
                for k, v in extract(r).items():
                    vals[s].setdefault(k, []).append(v)
        rows = []
        for name, higher in figures:
            b, a = vals["before"].get(name, []), vals["after"].get(name, [])
            if not b or not a:
                continue
            mb, ma = statistics.median(b), statistics.median(a)
            ratio = ma / mb if mb else None
            if max(b) < min(a):
                verdict = "better" if higher else "worse"
            elif max(a) < min(b):
                verdict = "worse" if higher else "better"
            else:
                verdict = "within noise"
            rows.append({"figure": name, "higher_is_better": higher, "before": b, "after": a,
                         "before_median": mb, "after_median": ma, "ratio": ratio, "verdict": verdict})
        out["tables"][title] = rows
        print(f"\n**{title}**\n", file=sys.stderr)
        print("| figure | before (median; rounds) | after (median; rounds) | after / before | verdict |", file=sys.stderr)
        print("| --- | ---: | ---: | ---: | --- |", file=sys.stderr)
        for r in rows:
            bs = " · ".join(fmt(x) for x in r["before"])
            as_ = " · ".join(fmt(x) for x in r["after"])
            print(f"| {r['figure']} | **{fmt(r['before_median'])}** ({bs}) | **{fmt(r['after_median'])}** ({as_}) | "
                  f"{fmt(r['ratio'])} | {r['verdict']} |", file=sys.stderr)
    print("\nload average (1/5/15 min) at the start of each side's pass:", file=sys.stderr)
    for s in SIDES:
        print(f"- {s}: " + "; ".join(f"r{i + 1} {l}" for i, l in enumerate(loads[s])), file=sys.stderr)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
