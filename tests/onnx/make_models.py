"""Trains the scikit-learn models of the ONNX parity tests, exports them
with skl2onnx and writes, into OUT_DIR:

  iforest.onnx, classifier.onnx      the models (skl2onnx.to_onnx)
  iforest_compact.onnx               the same IsolationForest as one
                                     TreeEnsembleRegressor (compact_iforest.py);
                                     same outputs, same expected scores
  classifier_zipmap.onnx             the classifier with skl2onnx's default
                                     ZipMap output (a seq(map)): refused
  rows.f32                           10,000 rows x 12 features, little-endian f32
  iforest_expected.json              scikit-learn's score (-decision_function) and
                                     label (predict == -1) for every row
  classifier_expected.json           predict_proba[:, 1] and predict == 1
  iforest_train.f32                  the IsolationForest's training rows (for the
                                     native joust forest of the shadow trial)
  bad_string_input.onnx              a graph whose input is a string tensor
  bad_unsupported_op.onnx            a graph using an operator from a domain no
                                     runtime has (joust.test.Missing)

Run with scikit-learn, skl2onnx and onnxruntime installed (scripts/test puts
them in a virtualenv): python3 tests/onnx/make_models.py OUT_DIR
"""
import json
import sys
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper
from skl2onnx import to_onnx
from sklearn.ensemble import GradientBoostingClassifier, IsolationForest

sys.path.insert(0, str(Path(__file__).parent))
from compact_iforest import isolation_forest_to_onnx  # noqa: E402

FEATURES = 12
ROWS = 10_000


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    train = rng.normal(size=(2_000, FEATURES)).astype(np.float32)
    rows = rng.normal(size=(ROWS, FEATURES)).astype(np.float32)
    rows[::50] *= 4.0  # some clear outliers
    train.tofile(out / "iforest_train.f32")
    rows.tofile(out / "rows.f32")

    forest = IsolationForest(n_estimators=100, random_state=0).fit(train)
    onx = to_onnx(forest, train[:1], target_opset={"": 17, "ai.onnx.ml": 3})
    (out / "iforest.onnx").write_bytes(onx.SerializeToString())
    compact = isolation_forest_to_onnx(forest, FEATURES)
    (out / "iforest_compact.onnx").write_bytes(compact.SerializeToString())
    json.dump(
        {
            "score": (-forest.decision_function(rows)).astype(float).tolist(),
            "label": (forest.predict(rows) == -1).tolist(),
        },
        open(out / "iforest_expected.json", "w"),
    )

    y = (train[:, 0] + 0.5 * train[:, 1] - train[:, 2] > 0.3).astype(np.int64)
    clf = GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=0).fit(train, y)
    onx = to_onnx(
        clf,
        train[:1],
        options={id(clf): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    (out / "classifier.onnx").write_bytes(onx.SerializeToString())
    onx = to_onnx(clf, train[:1], target_opset={"": 17, "ai.onnx.ml": 3})
    (out / "classifier_zipmap.onnx").write_bytes(onx.SerializeToString())
    json.dump(
        {
            "score": clf.predict_proba(rows)[:, 1].astype(float).tolist(),
            "label": (clf.predict(rows) == 1).tolist(),
        },
        open(out / "classifier_expected.json", "w"),
    )

    # A string input: refused at registration (joust inputs are FP32).
    x = helper.make_tensor_value_info("x", TensorProto.STRING, [None, 1])
    y_ = helper.make_tensor_value_info("y", TensorProto.STRING, [None, 1])
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "s", [x], [y_])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    (out / "bad_string_input.onnx").write_bytes(m.SerializeToString())

    # An operator no runtime implements.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])
    y_ = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])
    g = helper.make_graph(
        [helper.make_node("Missing", ["x"], ["y"], domain="joust.test")], "u", [x], [y_]
    )
    m = helper.make_model(
        g,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("joust.test", 1)],
        ir_version=8,
    )
    (out / "bad_unsupported_op.onnx").write_bytes(m.SerializeToString())


if __name__ == "__main__":
    main(Path(sys.argv[1]))
