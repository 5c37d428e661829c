"""tritonclient.grpc and tritonclient.http calling the OIP methods joust
does not serve (Triton's model config, statistics, repository, shared
memory, trace and log settings).

Run by tests/tests/oip_unserved.rs, which starts a registry, a node and a
router on port 0 and passes a JSON spec as the one argument:

  {"targets": [{"grpc": "127.0.0.1:PORT", "http": "127.0.0.1:PORT", "name": "node"}, ...],
   "model": "m"}

Every call must raise InferenceServerException with UNIMPLEMENTED (gRPC)
or 404 (REST) and a message saying what to use instead. Exits non-zero
(an AssertionError with its reason) on the first difference.
"""

from __future__ import annotations

import json
import sys

import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def expect_error(what: str, call, status: str, fragment: str) -> None:
    try:
        call()
    except InferenceServerException as e:
        assert e.status() == status, f"{what}: status {e.status()!r}, expected {status!r}: {e.message()}"
        assert fragment in e.message(), f"{what}: {fragment!r} not in {e.message()!r}"
        return
    raise AssertionError(f"{what}: expected an error with status {status} containing {fragment!r}")


def check(target: dict, model: str) -> None:
    g = grpcclient.InferenceServerClient(url=target["grpc"])
    assert g.is_server_live(), "gRPC: server not live"
    unimplemented = "StatusCode.UNIMPLEMENTED"
    for what, call, fragment in [
        ("get_model_config", lambda: g.get_model_config(model), "use ModelMetadata"),
        ("get_inference_statistics", lambda: g.get_inference_statistics(model), "/metrics (Prometheus"),
        ("get_model_repository_index", g.get_model_repository_index, "ServingAdmin/ListLoaded"),
        ("load_model", lambda: g.load_model(model), "ServingAdmin/Reload"),
        ("unload_model", lambda: g.unload_model(model), "ServingAdmin/Unload"),
        ("get_system_shared_memory_status", g.get_system_shared_memory_status, "send the tensors in the request"),
        ("get_cuda_shared_memory_status", g.get_cuda_shared_memory_status, "send the tensors in the request"),
        ("get_trace_settings", g.get_trace_settings, "--otlp-endpoint"),
        ("get_log_settings", g.get_log_settings, "JOUST_LOG"),
    ]:
        expect_error(f"{target['name']} gRPC {what}", call, unimplemented, fragment)
    g.close()

    h = httpclient.InferenceServerClient(url=target["http"])
    assert h.is_server_live(), "REST: server not live"
    for what, call, fragment in [
        ("get_model_config", lambda: h.get_model_config(model), "use ModelMetadata"),
        ("get_inference_statistics", lambda: h.get_inference_statistics(model), "/metrics (Prometheus"),
        ("get_model_repository_index", h.get_model_repository_index, "ServingAdmin/ListLoaded"),
        ("load_model", lambda: h.load_model(model), "ServingAdmin/Reload"),
        ("unload_model", lambda: h.unload_model(model), "ServingAdmin/Unload"),
        ("get_system_shared_memory_status", h.get_system_shared_memory_status, "send the tensors"),
    ]:
        expect_error(f"{target['name']} REST {what}", call, "404", fragment)
    h.close()
    print(f"ok: {target['name']}")


def main() -> None:
    spec = json.loads(sys.argv[1])
    for target in spec["targets"]:
        check(target, spec["model"])


if __name__ == "__main__":
    main()
