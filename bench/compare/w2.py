"""W1/W2 through the serving_bench example, with the node's CPU per request.

Usage: w2.py SERVING_BENCH SECONDS OUT.json

Runs `SERVING_BENCH SECONDS` (server/examples/serving_bench.rs: in-process
registry, the node as its child process, W1/W2 closed loop at C = 32 over
OIP and native, an open-loop W2 run at 2,000/s, promotion → served, RSS)
unchanged, and reads the node's CPU time (utime + stime of
/proc/NODE/stat) each time the example reports a workload on stderr (it
prints one line per workload as it finishes), so each workload's node CPU
is the difference between two lines. The example's load generator warms
up for 1 s before measuring SECONDS, so the node's CPU of a workload is
divided by throughput × (SECONDS + 1) requests: the warm-up requests are
not counted by the example, and each loop runs at the same rate
throughout (the first workload, W1 echo OIP, has no starting mark). Writes the example's JSON report with `node_cpu_us_per_request`
added to each closed-loop result, and `load_average` (/proc/loadavg
before the run).
"""
import json
import os
import re
import subprocess
import sys

TCK = os.sysconf("SC_CLK_TCK")


def loadavg():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def main():
    exe, seconds, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    load = loadavg()
    p = subprocess.Popen([exe, str(seconds)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    node = None
    marks = []  # (line, node ticks)
    line_re = re.compile(r"^(W\d \w+) (\w+) (\w+).*: (\d+) rps")
    for line in p.stderr:
        sys.stderr.write(line)
        if node is None:
            kids = children(p.pid)
            node = kids[0] if kids else None
        m = line_re.match(line)
        if m and node is not None:
            marks.append((line.strip(), cpu_ticks(node)))
        elif m:
            marks.append((line.strip(), None))
    stdout = p.stdout.read()
    if p.wait() != 0:
        sys.exit(f"{exe} failed ({p.returncode})")
    # Older commits: the node (a child sharing stdout) prints its listening
    # line before the report.
    report = json.loads(stdout[stdout.index("{"):])
    report["load_average"] = load
    # The node loads both models before the first workload, so the first
    # one (W1 echo OIP) has no starting mark and gets no CPU figure.
    prev = None
    for (line, ticks), r in zip(marks, report["results"]):
        if prev is not None and ticks is not None:
            n = r["throughput_rps"] * (seconds + 1.0)
            r["node_cpu_us_per_request"] = 1e6 * (ticks - prev) / TCK / max(n, 1.0)
        prev = ticks
    json.dump(report, open(out, "w"), indent=2)


if __name__ == "__main__":
    main()
