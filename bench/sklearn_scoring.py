"""Single-thread scoring speed of scikit-learn's IsolationForest.

Usage: sklearn_scoring.py FEATURES_CSV BATCH [BATCH ...]
Fits IsolationForest(n_estimators=100, max_samples=256) on the CSV's rows,
then times `score_samples` on batches taken from the same rows; prints the
median seconds per call for each batch size as JSON.
"""
import json
import os
import statistics
import sys
import time

import numpy as np
import sklearn
from sklearn.ensemble import IsolationForest


def main() -> None:
    path, batches = sys.argv[1], [int(b) for b in sys.argv[2:]]
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
    x = np.ascontiguousarray(data[:, :-1].astype(np.float32))
    model = IsolationForest(n_estimators=100, max_samples=256, random_state=42, n_jobs=1).fit(x)
    medians = {}
    for batch in batches:
        repeats = 3 if os.environ.get("JOUST_BENCH_SMOKE") == "1" else max(30, min(300, 30000 // batch))
        times = []
        for r in range(repeats):
            start = (r * 7919) % (len(x) - batch)
            rows = x[start : start + batch]
            t = time.perf_counter()
            model.score_samples(rows)
            times.append(time.perf_counter() - t)
        medians[str(batch)] = statistics.median(times)
    print(json.dumps({"median_seconds": medians, "sklearn_version": sklearn.__version__}))


if __name__ == "__main__":
    main()
