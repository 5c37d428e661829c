"""W3 summary: medians over runs of throughput, p50 and p99 for each side,
setting and concurrency, and the joust / MLServer ratios against the best
MLServer setting at each concurrency (highest median throughput).

Usage: summarize.py DIR  (reads DIR/result-SIDE-CONFIG-cC-rR.json)
Prints JSON on stdout and a Markdown table on stderr.
"""
import glob
import json
import os
import re
import statistics
import sys


def main() -> None:
    groups = {}
    for path in glob.glob(os.path.join(sys.argv[1], "result-*.json")):
        m = re.match(r"result-(\w+)-([\w-]+)-c(\d+)-r(\d+)\.json", os.path.basename(path))
        side, config, c = m.group(1), m.group(2), int(m.group(3))
        r = json.load(open(path))
        if r["errors"]:
            sys.exit(f"{path}: errors {r['errors']}")
        groups.setdefault((side, config, c), []).append(r)
    rows = []
    for (side, config, c), rs in sorted(groups.items()):
        rows.append({
            "side": side, "setting": config, "concurrency": c, "runs": len(rs),
            "throughput_rps": statistics.median(r["throughput_rps"] for r in rs),
            "p50_us": statistics.median(r["p50_us"] for r in rs),
            "p99_us": statistics.median(r["p99_us"] for r in rs),
        })
    ratios = []
    for c in sorted({r["concurrency"] for r in rows}):
        joust = [r for r in rows if r["side"] == "joust" and r["concurrency"] == c]
        mls = [r for r in rows if r["side"] == "mlserver" and r["concurrency"] == c]
        if not joust or not mls:
            continue
        best = max(mls, key=lambda r: r["throughput_rps"])
        j = joust[0]
        ratios.append({
            "concurrency": c, "mlserver_setting": best["setting"],
            "throughput_ratio": j["throughput_rps"] / best["throughput_rps"],
            "p50_ratio": best["p50_us"] / max(j["p50_us"], 1),
            "p99_ratio": best["p99_us"] / max(j["p99_us"], 1),
        })
    print("| side | setting | C | runs | req/s | p50 µs | p99 µs |", file=sys.stderr)
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |", file=sys.stderr)
    for r in rows:
        print(f"| {r['side']} | {r['setting']} | {r['concurrency']} | {r['runs']} | "
              f"{r['throughput_rps']:,.0f} | {r['p50_us']:,.0f} | {r['p99_us']:,.0f} |", file=sys.stderr)
    for q in ratios:
        print(f"C={q['concurrency']}: joust/MLServer({q['mlserver_setting']}) throughput "
              f"{q['throughput_ratio']:.1f}×, p50 {q['p50_ratio']:.1f}× lower, p99 {q['p99_ratio']:.1f}× lower",
              file=sys.stderr)
    print(json.dumps({"rows": rows, "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()
