"""W5/W6 summary.

W5: per path (direct, router, nginx) and concurrency, medians over runs of
throughput, p50 and p99; added latency = path median − direct median; the
router's added latency against nginx's; the goals.
W6: per mode (split, shadow), medians over runs of router CPU µs per
request (and the registry's, which stores the records); shadow / split.

Usage: summarize.py DIR LOADAVG_BEFORE LOADAVG_AFTER
(reads DIR/w5-PATH-cC-rR.json, DIR/w6-MODE-rR.json, DIR/router-stats.json,
DIR/registry-records.jsonl). Prints JSON on stdout and Markdown on stderr.
"""
import glob
import json
import os
import re
import statistics
import sys

GOAL_P50_US, GOAL_P99_US = 40, 120
GOAL_SHADOW_RATIO = 1.3


def load(dir_, pattern, regex):
    groups = {}
    for path in glob.glob(os.path.join(dir_, pattern)):
        m = re.match(regex, os.path.basename(path))
        r = json.load(open(path))
        if r["errors"]:
            sys.exit(f"{path}: errors {r['errors']}")
        groups.setdefault(m.groups()[:-1], []).append(r)
    return groups


def err(*a):
    print(*a, file=sys.stderr)


def w5(dir_):
    groups = load(dir_, "w5-*.json", r"w5-(\w+)-c(\d+)-r(\d+)\.json")
    if not groups:
        return None
    rows = {}
    for (path, c), rs in groups.items():
        rows[(path, int(c))] = {
            "path": path, "concurrency": int(c), "runs": len(rs),
            "throughput_rps": statistics.median(r["throughput_rps"] for r in rs),
            "p50_us": statistics.median(r["p50_us"] for r in rs),
            "p99_us": statistics.median(r["p99_us"] for r in rs),
        }
    added = {}
    for (path, c), row in rows.items():
        d = rows.get(("direct", c))
        if path == "direct" or d is None:
            continue
        added[(path, c)] = {
            "path": path, "concurrency": c,
            "added_p50_us": row["p50_us"] - d["p50_us"],
            "added_p99_us": row["p99_us"] - d["p99_us"],
            "throughput_vs_direct": row["throughput_rps"] / max(d["throughput_rps"], 1e-9),
        }
    order = {"direct": 0, "router": 1, "nginx": 2}
    out_rows = sorted(rows.values(), key=lambda r: (r["concurrency"], order.get(r["path"], 9)))
    err("| path | C | runs | req/s | p50 µs | p99 µs | added p50 µs | added p99 µs |")
    err("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in out_rows:
        a = added.get((r["path"], r["concurrency"]))
        ap50 = f"{a['added_p50_us']:+,.0f}" if a else "—"
        ap99 = f"{a['added_p99_us']:+,.0f}" if a else "—"
        err(f"| {r['path']} | {r['concurrency']} | {r['runs']} | {r['throughput_rps']:,.0f} | "
            f"{r['p50_us']:,.0f} | {r['p99_us']:,.0f} | {ap50} | {ap99} |")
    goals = {}
    ra, na = added.get(("router", 1)), added.get(("nginx", 1))
    if ra:
        goals["router_added_p50_us"] = ra["added_p50_us"]
        goals["router_added_p99_us"] = ra["added_p99_us"]
        goals["p50_goal_met"] = ra["added_p50_us"] <= GOAL_P50_US
        goals["p99_goal_met"] = ra["added_p99_us"] <= GOAL_P99_US
    if ra and na:
        for q in ("p50", "p99"):
            n = na[f"added_{q}_us"]
            goals[f"router_over_nginx_added_{q}"] = ra[f"added_{q}_us"] / n if n > 0 else None
            goals[f"half_of_nginx_{q}_met"] = ra[f"added_{q}_us"] <= n / 2
    for c in sorted({c for _, c in rows}):
        r, n, d = rows.get(("router", c)), rows.get(("nginx", c)), rows.get(("direct", c))
        if r and n and d:
            goals[f"c{c}_throughput_router_over_nginx"] = r["throughput_rps"] / max(n["throughput_rps"], 1e-9)
    err("W5 goals: " + json.dumps(goals))
    return {"rows": out_rows, "added": sorted(added.values(), key=lambda a: (a["concurrency"], a["path"])),
            "goals": goals}


def w6(dir_):
    groups = load(dir_, "w6-*.json", r"w6-(\w+)-r(\d+)\.json")
    if not groups:
        return None
    rows = {}
    for (mode,), rs in groups.items():
        per = [1e6 * r["router_cpu_s"] / max(r["requests"], 1) for r in rs]
        reg = [1e6 * r["registry_cpu_s"] / max(r["requests"], 1) for r in rs]
        rows[mode] = {
            "mode": mode, "runs": len(rs),
            "requests": statistics.median(r["requests"] for r in rs),
            "offered_rps": rs[0]["config"]["mode"]["open"]["rate_per_sec"],
            "router_cpu_us_per_request": statistics.median(per),
            "router_cpu_us_per_request_runs": per,
            "registry_cpu_us_per_request": statistics.median(reg),
            "p50_us": statistics.median(r["p50_us"] for r in rs),
            "p99_us": statistics.median(r["p99_us"] for r in rs),
        }
    err("| mode | runs | requests | offered req/s | router CPU µs/request | registry CPU µs/request | p50 µs | p99 µs |")
    err("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for m in ("split", "shadow"):
        r = rows.get(m)
        if r:
            err(f"| {m} | {r['runs']} | {r['requests']:,.0f} | {r['offered_rps']:,.0f} | "
                f"{r['router_cpu_us_per_request']:.1f} | {r['registry_cpu_us_per_request']:.1f} | "
                f"{r['p50_us']:,.0f} | {r['p99_us']:,.0f} |")
    out = {"rows": [rows[m] for m in ("split", "shadow") if m in rows]}
    if "split" in rows and "shadow" in rows:
        ratio = rows["shadow"]["router_cpu_us_per_request"] / max(rows["split"]["router_cpu_us_per_request"], 1e-9)
        out["shadow_over_split"] = ratio
        out["goal_met"] = ratio <= GOAL_SHADOW_RATIO
        err(f"W6: shadow / split router CPU per request = {ratio:.2f} (goal ≤ {GOAL_SHADOW_RATIO})")
    stats = os.path.join(dir_, "router-stats.json")
    if os.path.exists(stats):
        out["router_stats"] = json.load(open(stats))
    recs = os.path.join(dir_, "registry-records.jsonl")
    if os.path.exists(recs):
        out["registry_records"] = [json.loads(line) for line in open(recs) if line.strip()]
    err("W6 records: " + json.dumps({k: out.get(k) for k in ("router_stats", "registry_records")}))
    return out


def main():
    dir_, before, after = sys.argv[1], sys.argv[2], sys.argv[3]
    print(json.dumps({"loadavg_before": before, "loadavg_after": after,
                      "w5": w5(dir_), "w6": w6(dir_)}, indent=2))


if __name__ == "__main__":
    main()
