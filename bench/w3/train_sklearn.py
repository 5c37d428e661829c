"""W3: trains scikit-learn's IsolationForest (100 trees, psi = 256) on a
joust feature CSV and writes an MLServer model folder.

Usage: train_sklearn.py FEATURES_CSV MODEL_DIR MODEL_NAME MAX_BATCH_SIZE MAX_BATCH_TIME
The CSV has a header, 14 feature columns, then `label`. MODEL_DIR gets
`model.joblib` and `model-settings.json` (mlserver_sklearn runtime;
adaptive batching on when MAX_BATCH_SIZE > 1). Prints JSON.
"""
import json
import os
import sys

import joblib
import numpy as np
import sklearn
from sklearn.ensemble import IsolationForest


def main() -> None:
    path, out, name = sys.argv[1], sys.argv[2], sys.argv[3]
    max_batch_size, max_batch_time = int(sys.argv[4]), float(sys.argv[5])
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
    x = data[:, :-1].astype(np.float32)
    model = IsolationForest(n_estimators=100, max_samples=256, random_state=0, n_jobs=1)
    model.fit(x)
    os.makedirs(out, exist_ok=True)
    joblib.dump(model, os.path.join(out, "model.joblib"))
    settings = {
        "name": name,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": "1"},
    }
    if max_batch_size > 1:
        settings["max_batch_size"] = max_batch_size
        settings["max_batch_time"] = max_batch_time
    with open(os.path.join(out, "model-settings.json"), "w") as f:
        json.dump(settings, f, indent=2)
    print(json.dumps({"rows": int(x.shape[0]), "features": int(x.shape[1]),
                      "sklearn_version": sklearn.__version__, "settings": settings}))


if __name__ == "__main__":
    main()
