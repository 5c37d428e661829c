"""Runs what the chart renders (helm/test_chart.py calls `run`): no cluster
here, so every Deployment of a production-like render becomes a local
process (helm/local_cluster.py) and the chart's promises are checked on
them:

* values point at PostgreSQL (a throwaway database for the registry and
  one for detection, on JOUST_TEST_DATABASE_URL's server, dropped after)
  and at the S3 test server (JOUST_TEST_S3_ENDPOINT / _BUCKET as
  scripts/test exports them; run alone, a moto_server of our own), through
  Secrets the test stands in for, as `kubectl create secret` would;
* every liveness probe succeeds before the kubelet would restart the pod,
  the registry turns ready, the nodes (`--follow-all`), the router and
  detection (its readiness follows its scoring model) once a model is
  trained, evaluated and promoted with the joust CLI against the rendered
  registry Service;
* one OIP ModelInfer through the rendered router Service answers with the
  promoted version; the dashboard Service answers;
* the registry's database goes away: its readiness probe fails, its
  liveness probe does not (no restart), and readiness returns with it;
* SIGTERM stops every process cleanly.

Any failure names the Deployment and the probe; process logs are kept and
their paths printed. Processes, the moto_server and the databases are
cleaned up on every exit path.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import struct
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable, Iterator

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from local_cluster import NO_PROXY, ClusterError, Image, LocalCluster, free_port, log_tail, spawn, stop_process

REPO = Path(__file__).resolve().parent.parent
MODEL = "anomaly_detector"
FULL, NAMESPACE = "joust", "ml"
READY_WITHIN = 60.0  # seconds a readiness probe may take (startup, a first load)
STOP_GRACE = 15.0  # seconds a role may take to exit on SIGTERM (the chart allows 30)


def step(msg: str) -> None:
    print(f"  run: {msg}", flush=True)


# --- stand-ins for the external services --------------------------------------
def psql(admin_url: str, sql: str) -> None:
    exe = shutil.which("psql") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))), None)
    if exe is None:
        raise ClusterError("psql is needed to create the throwaway databases; fix: apt-get install postgresql-client")
    r = subprocess.run([str(exe), admin_url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise ClusterError(f"psql {sql!r} on {admin_url}: {r.stderr.strip()}")


@contextmanager
def databases(admin_url: str, names: list[str]) -> Iterator[dict[str, str]]:
    """Throwaway PostgreSQL databases; their URLs. Dropped on exit."""
    created = []
    try:
        for n in names:
            psql(admin_url, f'CREATE DATABASE "{n}"')
            created.append(n)
        u = urllib.parse.urlparse(admin_url)
        yield {n: u._replace(path=f"/{n}").geturl() for n in names}
    finally:
        for n in created:
            try:
                psql(admin_url, f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')
            except ClusterError as e:
                print(f"warning: {e}", flush=True)


@contextmanager
def s3_server(workdir: Path) -> Iterator[tuple[str, str, str, str]]:
    """(endpoint, bucket, access key id, secret): scripts/test's moto_server,
    or one of our own on a free port when run alone."""
    endpoint = os.environ.get("JOUST_TEST_S3_ENDPOINT")
    if endpoint:
        yield endpoint, os.environ.get("JOUST_TEST_S3_BUCKET", "joust-test"), os.environ.get("AWS_ACCESS_KEY_ID", "test"), os.environ.get("AWS_SECRET_ACCESS_KEY", "test")
        return
    exe = shutil.which("moto_server")
    if exe is None:
        raise ClusterError("no S3 test server: set JOUST_TEST_S3_ENDPOINT or pip install 'moto[server]'")
    port = free_port()
    log = workdir / "moto.log"
    proc = spawn([exe, "-H", "127.0.0.1", "-p", str(port)], dict(os.environ), workdir, log)
    endpoint, bucket = f"http://127.0.0.1:{port}", "joust-helm"
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + 60
        while True:
            try:
                opener.open(urllib.request.Request(f"{endpoint}/{bucket}", method="PUT"), timeout=2).close()
                break
            except OSError as e:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise ClusterError(f"moto_server did not come up on {endpoint}: {e}; log {log}:\n{log_tail(log)}") from e
                time.sleep(0.2)
        yield endpoint, bucket, "test", "test"
    finally:
        stop_process(proc, 5)


# --- the joust CLI and an OIP client against the rendered Services ---------
def joust_cli(joust_bin: str, services: dict[str, str], workdir: Path, *args: str, timeout: float = 120) -> str:
    """Runs the joust CLI as a user would, its addresses (JOUST_REGISTRY,
    JOUST_DETECT) the loopback ports of the rendered Services."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir), "JOUST_LOG": "warn", **services}
    r = subprocess.run([joust_bin, *args], capture_output=True, text=True, env=env, cwd=workdir, timeout=timeout)
    if r.returncode != 0:
        raise ClusterError(f"`joust {' '.join(args)}` against the rendered Services {services} failed ({r.returncode}):\n{r.stderr.strip()}")
    return r.stdout


class Oip:
    """Open Inference Protocol calls, messages from the server's reflection
    (no generated code, no protoc)."""

    SERVICE = "inference.GRPCInferenceService"

    def __init__(self, addr: str):
        self.channel = grpc.insecure_channel(addr, options=NO_PROXY)
        self.pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(self.channel))

    def call(self, method: str, timeout: float = 10, **fields):
        m = self.pool.FindServiceByName(self.SERVICE).FindMethodByName(method)
        req_cls = message_factory.GetMessageClass(m.input_type)
        resp_cls = message_factory.GetMessageClass(m.output_type)
        rpc = self.channel.unary_unary(f"/{self.SERVICE}/{method}", request_serializer=req_cls.SerializeToString, response_deserializer=resp_cls.FromString)
        return rpc(req_cls(**fields), timeout=timeout)

    def close(self) -> None:
        self.channel.close()


def predict_once(router: str) -> tuple[str, int]:
    """One ModelInfer through the router: (model_version, rows scored)."""
    oip = Oip(router)
    try:
        meta = oip.call("ModelMetadata", name=MODEL)
        features = int(meta.inputs[0].shape[-1])
        rows = 2
        values = [0.01 * i for i in range(rows * features)]
        r = oip.call(
            "ModelInfer",
            model_name=MODEL,
            id="helm-run",
            inputs=[{"name": meta.inputs[0].name, "datatype": "FP32", "shape": [rows, features]}],
            raw_input_contents=[struct.pack(f"<{len(values)}f", *values)],
        )
        if r.model_name != MODEL or r.id != "helm-run" or not r.outputs:
            raise ClusterError(f"ModelInfer through the router answered {r}")
        return r.model_version, int(r.outputs[0].shape[0])
    finally:
        oip.close()


# --- the run ----------------------------------------------------------------
def run(render: Callable[[dict], list[dict]], validate: Callable[[list[dict], str], None], joust_bin: str) -> list[str]:
    """Renders with production-like values pointing at the stand-ins, runs
    it, and returns what failed (empty: every promise held)."""
    admin_url = os.environ.get("JOUST_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    tag = secrets.token_hex(4)
    workdir = Path(tempfile.mkdtemp(prefix="joust-helm-run-"))
    failures: list[str] = []
    cluster: LocalCluster | None = None
    started = time.monotonic()
    try:
        with ExitStack() as stack:
            registry_db, detect_db = f"joust_helm_{tag}", f"joust_helm_{tag}_detect"
            urls = stack.enter_context(databases(admin_url, [registry_db, detect_db]))
            endpoint, bucket, key_id, key = stack.enter_context(s3_server(workdir))
            values = {
                "database": {"existingSecret": "joust-database"},
                "s3": {"bucket": bucket, "prefix": f"helm-run-{tag}", "region": "us-east-1", "endpoint": endpoint, "allowHttp": True, "existingSecret": "joust-s3"},
                "detection": {"model": MODEL, "database": {"existingSecret": "joust-detect-database"}, "evidencePrefix": f"helm-run-{tag}/evidence"},
            }
            secrets_ = {
                "joust-database": {"database-url": urls[registry_db]},
                "joust-detect-database": {"database-url": urls[detect_db]},
                "joust-s3": {"access-key-id": key_id, "secret-access-key": key},
            }
            docs = render(values)
            validate(docs, "run")
            cluster = LocalCluster(docs, joust_bin, Image.from_dockerfile(REPO / "Dockerfile"), secrets_, workdir)
            stack.callback(lambda: failures.extend(cluster.stop([f"{FULL}-detection", f"{FULL}-router", f"{FULL}-node", f"{FULL}-registry"], STOP_GRACE)))
            scenario(cluster, joust_bin, workdir, admin_url, registry_db)
    except ClusterError as e:
        failures.append(str(e))
    finally:
        took = time.monotonic() - started
        if failures:
            print(f"  run: process logs kept in {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        step(f"{'failed' if failures else 'passed'} in {took:.1f}s")
    return failures


def scenario(c: LocalCluster, joust_bin: str, workdir: Path, admin_url: str, registry_db: str) -> None:
    reg, node, router, det = (f"{FULL}-{r}" for r in ("registry", "node", "router", "detection"))
    c.start()
    step(f"started {', '.join(sorted(c.pods))}; logs under {workdir}")
    for name in sorted(c.pods):
        # Within the window before the kubelet would restart it, from its start.
        t = c.wait_probe(name, "livenessProbe", c.liveness_window(name), since=c.pods[name].started)
        step(f"{name}: livenessProbe passed {t:.1f}s after the start")
    # No champion yet: a node following every champion has none to wait
    # for, and the router no route. Detection's readiness follows its
    # scoring model (docs/detection.md, "Health"): it turns ready once the
    # router serves a champion, below.
    for name in (reg, node, router):
        t = c.wait_probe(name, "readinessProbe", READY_WITHIN)
        step(f"{name}: readinessProbe passed after {t:.1f}s")

    services = {"JOUST_REGISTRY": f"http://{c.service(f'{FULL}-registry', 7070)}", "JOUST_DETECT": f"http://{c.service(f'{FULL}-detection', 7073)}"}
    cli = lambda *a: joust_cli(joust_bin, services, workdir, *a)  # noqa: E731
    t0 = time.monotonic()
    cli("data", "ingest", "--synthetic", "--tickers", "4", "--rows", "300", "--name", "market_snapshot")
    for seed in ("1", "2"):
        cli("model", "train", "--dataset", "market_snapshot@latest", "--kind", "isolation_forest", "--model", MODEL, "--seed", seed)
    for v in ("1", "2"):
        cli("model", "evaluate", f"{MODEL}:{v}", "--dataset", "market_snapshot", "--max-anomaly-rate", "0.5")
    cli("model", "promote", f"{MODEL}:1")
    step(f"trained and evaluated {MODEL}:1 and :2, promoted :1, through Service {FULL}-registry ({time.monotonic() - t0:.1f}s)")
    # The node loads the first champion by itself (--follow-all), then both
    # turn (or stay) ready and the router answers with it.
    for name in (node, router):
        c.wait_probe(name, "readinessProbe", READY_WITHIN)
    t = c.wait_probe(det, "readinessProbe", READY_WITHIN)
    step(f"{det}: readinessProbe passed {t:.1f}s after the router served a champion")
    answered(c, "1", within=READY_WITHIN, keep_ready=())
    detection_run(cli)

    # A trial needs no helm upgrade: the nodes load the challenger as it
    # appears, the router moves to it once a node has it ready
    # (make-before-break), and no pod turns unready meanwhile.
    cli("trial", "start", f"{MODEL}:2", "--mode", "split", "--weight", "1")
    answered(c, "2", within=READY_WITHIN, keep_ready=(node, router))
    dashboard(c)
    oip_rest(c)
    database_outage(c, admin_url, registry_db)
    for name in sorted(c.pods):
        for kind in ("livenessProbe", "readinessProbe"):
            ok, seen = c.probe(c.pods[name], kind)
            if not ok:
                raise ClusterError(f"Deployment {name}: {kind} fails at the end of the run: {seen}; log {c.pods[name].log}:\n{log_tail(c.pods[name].log)}")


def answered(c: LocalCluster, want: str, within: float, keep_ready: tuple[str, ...]) -> None:
    """Predicts through the router Service until version `want` answers;
    the pods of `keep_ready` must pass their readiness probe throughout."""
    router = f"{FULL}-router"
    t0 = time.monotonic()
    last = "no answer yet"
    while True:
        for name in keep_ready:
            ok, seen = c.probe(c.pods[name], "readinessProbe")
            if not ok:
                raise ClusterError(f"Deployment {name}: readinessProbe failed while version {want} rolled out: {seen}; log {c.pods[name].log}:\n{log_tail(c.pods[name].log)}")
        try:
            version, rows = predict_once(c.service(router, 7072))
            if version == want:
                step(f"ModelInfer through Service {router}: {MODEL} version {version}, {rows} rows ({time.monotonic() - t0:.1f}s)")
                return
            last = f"answered version {version}"
        except grpc.RpcError as e:
            last = f"{e.code().name}: {e.details()}"
        except ClusterError as e:
            last = str(e)
        if time.monotonic() - t0 > within:
            node = c.pods[f"{FULL}-node"]
            raise ClusterError(f"Deployment {router}: ModelInfer through Service {router} did not answer version {want} within {within:.0f}s: {last}; logs {node.log} {c.pods[router].log}:\n{log_tail(c.pods[router].log)}")
        time.sleep(0.1)


def detection_run(cli: Callable[..., str]) -> None:
    """Detection, through its Service, scores bars through the router
    Service (its rendered --router) and stores in its own database and S3."""
    cli("detect", "ingest", "--synthetic", "1", "--rows", "120", "--interval", "1d")
    out = cli("detect", "run", "SYN000", "--interval", "1d", "--json-lines")
    run = json.loads(out.splitlines()[0])
    if run.get("status") != "complete" or not run.get("rows_scored"):
        raise ClusterError(f"Deployment {FULL}-detection: `joust detect run` through Service {FULL}-detection: {run}")
    step(f"Service {FULL}-detection: a detection run scored {run['rows_scored']} rows through the router, {run.get('anomalies_found')} anomalies")


def oip_rest(c: LocalCluster) -> None:
    """The OIP REST API on the node and router Services (port http): ready,
    and an inference through the router answered by the trial's challenger."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for role, port in (("node", 8071), ("router", 8072)):
        name = f"{FULL}-{role}"
        try:
            with opener.open(f"http://{c.service(name, port)}/v2/health/ready", timeout=5) as r:
                ready = json.loads(r.read())
        except (OSError, ValueError) as e:
            raise ClusterError(f"Service {name} port http: GET /v2/health/ready failed: {e}") from e
        if ready != {"ready": True}:
            raise ClusterError(f"Service {name} port http: GET /v2/health/ready answered {ready}")
    name = f"{FULL}-router"
    body = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 14], "data": [0.0] * 14}]}).encode()
    request = urllib.request.Request(f"http://{c.service(name, 8072)}/v2/models/{MODEL}/infer", data=body, method="POST")
    try:
        with opener.open(request, timeout=10) as r:
            answer = json.loads(r.read())
    except (OSError, ValueError) as e:
        raise ClusterError(f"Service {name} port http: POST /v2/models/{MODEL}/infer failed: {e}") from e
    if answer.get("model_version") != "2" or [o.get("name") for o in answer.get("outputs", [])] != ["score", "label"]:
        raise ClusterError(f"Service {name} port http: the infer answer is not the challenger's score and label: {answer}")
    step(f"Services {FULL}-node and {name} answer the OIP REST API (port http); the router's infer came from the challenger")


def dashboard(c: LocalCluster) -> None:
    """The dashboard Service answers (authentication is off in this render)."""
    name = f"{FULL}-dashboard"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{c.service(name, 7080)}/", timeout=5) as r:
            body = r.read()
    except OSError as e:
        raise ClusterError(f"Service {name} (Deployment {FULL}-registry, port http): GET / failed: {e}") from e
    if r.status != 200 or not body:
        raise ClusterError(f"Service {name}: GET / answered {r.status} with {len(body)} bytes")
    step(f"Service {name} answers GET / ({len(body)} bytes)")
    # The serving view asks the router Service (the rendered --ui-routers):
    # the router answers with the trial's challenger, the node holds it ready.
    try:
        with opener.open(f"http://{c.service(name, 7080)}/api/serving", timeout=10) as r:
            view = json.loads(r.read())
    except (OSError, ValueError) as e:
        raise ClusterError(f"Service {name}: GET /api/serving failed: {e}") from e
    model = next((m for m in view if m.get("model") == MODEL), None)
    routers = (model or {}).get("routers") or []
    if not routers or routers[0].get("error") or routers[0].get("answering_challenger") != 2:
        raise ClusterError(f"Service {name}: /api/serving does not show the router Service answering challenger 2: {model}")
    ready = [n for n in routers[0].get("nodes", []) if n.get("version") == 2 and n.get("phase") == "ready"]
    if not ready:
        raise ClusterError(f"Service {name}: /api/serving shows no node with version 2 ready: {routers[0]}")
    step(f"Service {name}: /api/serving shows router {routers[0]['router']} answering challenger 2, ready on {ready[0]['node']}")


def database_outage(c: LocalCluster, admin_url: str, db: str) -> None:
    """The registry's database refuses connections: readiness follows it,
    liveness must not (the kubelet would restart every registry pod)."""
    reg = f"{FULL}-registry"
    psql(admin_url, f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS false')
    try:
        psql(admin_url, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'")
        t = c.wait_probe(reg, "readinessProbe", 15, want=False)
        ok, seen = c.probe(c.pods[reg], "livenessProbe")
        if not ok:
            raise ClusterError(f"Deployment {reg}: livenessProbe fails while its database is down (the kubelet would restart it): {seen}")
        step(f"{reg}: database down: readinessProbe failed after {t:.1f}s, livenessProbe still passes")
    finally:
        psql(admin_url, f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS true')
    t = c.wait_probe(reg, "readinessProbe", 30)
    step(f"{reg}: database back: readinessProbe passed after {t:.1f}s")
