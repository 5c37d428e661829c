"""tritonclient.http against joust's OIP REST API (KServe v2 HTTP/JSON).

Run by tests/tests/oip_rest_tritonclient.rs, which starts a registry, a
node and a router on port 0 and passes a JSON spec as the one argument:

  {"targets": [{"url": "127.0.0.1:PORT", "name": "joust", "routed": false}, ...],
   "model": "m", "features": 3, "rows": [[...], ...],
   "scores": {"1": [...], "2": [...]}}

`scores` are the gRPC answers for `rows` per version: every REST answer
must equal them. Exits non-zero (an AssertionError with its reason) on
the first difference.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def expect_error(call, status: str, fragment: str) -> None:
    try:
        call()
    except InferenceServerException as e:
        assert e.status() == status, f"status {e.status()!r}, expected {status!r}: {e.message()}"
        assert fragment in e.message(), f"{fragment!r} not in {e.message()!r}"
        return
    raise AssertionError(f"expected an error with status {status} containing {fragment!r}")


def check(target: dict, spec: dict) -> None:
    model, features = spec["model"], spec["features"]
    x = np.array(spec["rows"], dtype=np.float32)
    scores = {v: np.array(s, dtype=np.float32) for v, s in spec["scores"].items()}
    c = httpclient.InferenceServerClient(url=target["url"])

    # Health, readiness, metadata.
    assert c.is_server_live(), "server not live"
    assert c.is_server_ready(), "server not ready"
    assert c.is_model_ready(model), "model not ready"
    assert c.is_model_ready(model, "2"), "version 2 not ready"
    assert not c.is_model_ready(model, "9"), "version 9 ready"
    server = c.get_server_metadata()
    assert server["name"] == target["name"], server
    md = c.get_model_metadata(model)
    assert md["name"] == model, md
    assert md["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, features]}], md
    assert [o["name"] for o in md["outputs"]] == ["score", "label"], md
    assert [o["datatype"] for o in md["outputs"]] == ["FP32", "BOOL"], md
    md2 = c.get_model_metadata(model, "2")
    assert md2["name"] == model, md2

    def infer(binary_in: bool, binary_out: bool | None, version: str = "", **kw):
        inp = httpclient.InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=binary_in)
        outputs = None
        if binary_out is not None:
            outputs = [
                httpclient.InferRequestedOutput("score", binary_data=binary_out),
                httpclient.InferRequestedOutput("label", binary_data=binary_out),
            ]
        return c.infer(model, [inp], model_version=version, outputs=outputs, **kw)

    # JSON and binary, each way, pinned to each version: the gRPC scores.
    for version in ("1", "2"):
        for binary_in in (False, True):
            for binary_out in (False, True, None):  # None: binary_data_output
                r = infer(binary_in, binary_out, version, request_id=f"r-{version}")
                got = r.as_numpy("score")
                assert got.dtype == np.float32, got.dtype
                assert np.array_equal(got, scores[version]), (version, binary_in, binary_out, got, scores[version])
                labels = r.as_numpy("label")
                assert labels.dtype == np.bool_ and labels.shape == (len(x),), labels
                resp = r.get_response()
                assert resp["model_version"] == version, resp
                assert resp["id"] == f"r-{version}", resp

    # Unpinned: the node answers with its champion (1); the router with
    # the arm of the routing key (sticky), whose version's scores come back.
    seen = set()
    for i in range(30):
        key = f"customer-{i}"
        first = infer(False, False, parameters={"routing_key": key})
        version = first.get_response()["model_version"]
        again = infer(True, True, parameters={"routing_key": key})
        assert again.get_response()["model_version"] == version, (key, version)
        assert np.array_equal(again.as_numpy("score"), scores[version]), key
        seen.add(version)
    if target["routed"]:
        assert seen == {"1", "2"}, f"a split at weight 0.5 answered only versions {seen}"
    else:
        assert seen == {"1"}, seen

    # Errors: the KServe body's message names the field.
    bad = httpclient.InferInput("input", [1, features - 1], "FP32")
    bad.set_data_from_numpy(np.zeros((1, features - 1), dtype=np.float32), binary_data=False)
    expect_error(lambda: c.infer(model, [bad]), "400", f"expects {features} features")
    fp64 = httpclient.InferInput("input", [1, features], "FP64")
    fp64.set_data_from_numpy(np.zeros((1, features), dtype=np.float64), binary_data=True)
    expect_error(lambda: c.infer(model, [fp64]), "400", 'inputs[0].datatype: expected "FP32", got "FP64"')
    ok = httpclient.InferInput("input", list(x.shape), "FP32")
    ok.set_data_from_numpy(x)
    expect_error(lambda: c.infer("ghost", [ok]), "404", '"ghost"')
    expect_error(lambda: c.get_model_metadata("ghost"), "404", '"ghost"')
    c.close()


def main() -> int:
    spec = json.loads(sys.argv[1])
    for target in spec["targets"]:
        check(target, spec)
        print(f"ok: {target['name']} at {target['url']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
