"""Exports a fitted scikit-learn IsolationForest as one compact ONNX graph.

skl2onnx exports an IsolationForest tree by tree: for 100 trees that is a
graph of ~2,500 nodes (per tree a TreeEnsembleRegressor for the leaf, two
LabelEncoders for its depth and sample count, Casts, Adds, Maxes…), and
ONNX Runtime's per-node dispatch (~0.4 µs a node on one thread) makes one
row cost ~1 ms whatever the batch. This exporter folds every tree into a
single `TreeEnsembleRegressor` whose leaf weight is the leaf's path length
(depth + c(samples at the leaf), scikit-learn's `_average_path_length`),
summed over trees, then 6 arithmetic nodes: one row costs ~10 µs.

Same outputs as skl2onnx, so joust's default mapping applies unchanged:
`scores` (FP32 [N, 1]) = `decision_function`, `label` (INT64 [N, 1]) =
`predict` (-1 = anomaly). Thresholds are rounded down to the nearest
float32 so that `x <= t` gives scikit-learn's split for every float32 x.

    from compact_iforest import isolation_forest_to_onnx
    onx = isolation_forest_to_onnx(forest, n_features=12)
    open("model.onnx", "wb").write(onx.SerializeToString())

Needs numpy, onnx and scikit-learn (the versions of tests/onnx/requirements.txt).
"""

import math

import numpy as np
from onnx import TensorProto, helper
from sklearn.ensemble._iforest import _average_path_length


def _floor_f32(t: np.ndarray) -> np.ndarray:
    """The largest float32 <= each float64 threshold."""
    f = t.astype(np.float32)
    over = f.astype(np.float64) > t
    f[over] = np.nextafter(f[over], np.float32(-np.inf))
    return f


def isolation_forest_to_onnx(forest, n_features: int, input_name: str = "X", opset: int = 17):
    """The fitted `forest` as an ONNX ModelProto (ai.onnx.ml opset 3)."""
    tree_ids, node_ids, features, values, modes, trues, falses = [], [], [], [], [], [], []
    t_tree, t_node, t_weight = [], [], []
    for t, (est, feats) in enumerate(zip(forest.estimators_, forest.estimators_features_)):
        tree = est.tree_
        feats = np.asarray(feats)
        leaf_samples = tree.n_node_samples.astype(np.float64)
        depth = np.zeros(tree.node_count)
        thresholds = _floor_f32(tree.threshold)
        for n in range(tree.node_count):
            left, right = tree.children_left[n], tree.children_right[n]
            tree_ids.append(t)
            node_ids.append(n)
            if left == -1:
                features.append(0)
                values.append(0.0)
                modes.append("LEAF")
                trues.append(0)
                falses.append(0)
                t_tree.append(t)
                t_node.append(n)
                t_weight.append(float(depth[n] + _average_path_length([leaf_samples[n]])[0]))
            else:
                depth[left] = depth[right] = depth[n] + 1
                features.append(int(feats[tree.feature[n]]))
                values.append(float(thresholds[n]))
                modes.append("BRANCH_LEQ")
                trues.append(int(left))
                falses.append(int(right))
    ensemble = helper.make_node(
        "TreeEnsembleRegressor",
        [input_name],
        ["path_sum"],
        domain="ai.onnx.ml",
        n_targets=1,
        aggregate_function="SUM",
        post_transform="NONE",
        nodes_treeids=tree_ids,
        nodes_nodeids=node_ids,
        nodes_featureids=features,
        nodes_values=values,
        nodes_modes=modes,
        nodes_truenodeids=trues,
        nodes_falsenodeids=falses,
        nodes_missing_value_tracks_true=[0] * len(node_ids),
        target_treeids=t_tree,
        target_nodeids=t_node,
        target_ids=[0] * len(t_tree),
        target_weights=t_weight,
    )
    # score_samples = -2^(-mean path / c(max_samples)); decision = score_samples - offset_.
    c = float(_average_path_length([forest.max_samples_])[0])
    k = -math.log(2.0) / (len(forest.estimators_) * c)
    const = [
        helper.make_tensor("k", TensorProto.FLOAT, [], [k]),
        helper.make_tensor("minus_one", TensorProto.FLOAT, [], [-1.0]),
        helper.make_tensor("minus_offset", TensorProto.FLOAT, [], [-float(forest.offset_)]),
        helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor("outlier", TensorProto.INT64, [], [-1]),
        helper.make_tensor("inlier", TensorProto.INT64, [], [1]),
    ]
    nodes = [
        ensemble,
        helper.make_node("Mul", ["path_sum", "k"], ["exponent"]),
        helper.make_node("Exp", ["exponent"], ["anomaly"]),
        helper.make_node("Mul", ["anomaly", "minus_one"], ["score_samples"]),
        helper.make_node("Add", ["score_samples", "minus_offset"], ["scores"]),
        helper.make_node("Less", ["scores", "zero"], ["is_outlier"]),
        helper.make_node("Where", ["is_outlier", "outlier", "inlier"], ["label"]),
    ]
    graph = helper.make_graph(
        nodes,
        "isolation_forest",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [None, n_features])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None, 1]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, 1]),
        ],
        initializer=const,
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("ai.onnx.ml", 3)],
        ir_version=8,
    )
