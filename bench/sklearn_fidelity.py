"""ROC-AUC of scikit-learn's IsolationForest on a joust feature CSV.

Usage: sklearn_fidelity.py FEATURES_CSV SEED [SEED ...]
The CSV has a header, 14 feature columns, then `label` (0/1). Prints JSON.
"""
import json
import sys

import numpy as np
import sklearn
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score


def main() -> None:
    path, seeds = sys.argv[1], [int(s) for s in sys.argv[2:]]
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
    x, y = data[:, :-1].astype(np.float32), data[:, -1].astype(int)
    aucs = []
    for seed in seeds:
        model = IsolationForest(n_estimators=100, max_samples=256, random_state=seed, n_jobs=1)
        model.fit(x)
        # score_samples is the negated paper score: higher = more normal.
        aucs.append(float(roc_auc_score(y, -model.score_samples(x))))
    print(json.dumps({"aucs": aucs, "sklearn_version": sklearn.__version__}))


if __name__ == "__main__":
    main()
