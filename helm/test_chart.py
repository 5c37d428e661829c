#!/usr/bin/env python3
"""Offline checks of the joust helm chart (helm/joust): no cluster, no helm
binary. scripts/test runs it; run it alone with `python3 helm/test_chart.py`.

1. helm lint (strict) with the default and the production-like values;
2. values.schema.json rejects typos and bad values;
3. render with helm/joust/ci/*.yaml and validate every manifest against the
   Kubernetes JSON schemas of KUBE_VERSION (kubernetes-validate, strict:
   unknown fields fail);
4. assert what the chart promises: gRPC probes on every Deployment, the
   hardened securityContext, secrets only by secretKeyRef, replica counts
   and HPAs per values file, a headless node Service;
5. when JOUST_BIN names a built `joust`, every flag and env var the chart
   passes exists in that binary's `--help` (a renamed flag fails here);
6. with that binary, runs what the chart renders (helm/run_chart.py): each
   Deployment's command, args and environment as a local process, Services
   mapped to free loopback ports, PostgreSQL (JOUST_TEST_DATABASE_URL) and
   the S3 test server (JOUST_TEST_S3_ENDPOINT, or a moto_server of its own)
   standing in for the external ones; its probes answered as the kubelet
   asks them, a model promoted with the CLI and one prediction through the
   rendered router. JOUST_BIN defaults to target/debug/joust; without a
   binary this step is skipped (an error under JOUST_TEST_REQUIRE_ALL).

Needs: pip install helm-python-sdk kubernetes-validate grpcio
grpcio-health-checking grpcio-reflection (scripts/test does); for step 6
psql and moto[server] too.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import yaml

KUBE_VERSION = "1.33.0"
HERE = Path(__file__).resolve().parent
CHART = HERE / "joust"
RELEASE, NAMESPACE = "joust", "ml"
FULL = "joust"  # release "joust" + chart "joust" → fullname "joust"

failures: list[str] = []
sys.stdout.reconfigure(line_buffering=True)


def check(cond: bool, what: str) -> None:
    if not cond:
        failures.append(what)
        print(f"FAIL {what}", file=sys.stderr)


def values_file(name: str) -> dict:
    return yaml.safe_load((CHART / "ci" / name).read_text()) or {}


def render(values: dict) -> list[dict]:
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(values)
        out = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs = []
    for path, text in sorted(out.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                doc.setdefault("metadata", {}).setdefault("namespace", NAMESPACE)
                docs.append(doc)
    return docs


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


# --- 1. lint ------------------------------------------------------------------
def lint(values: dict, label: str) -> None:
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE, kube_version=f"v{KUBE_VERSION}")
    bad = [m for m in report.get("messages") or [] if m.get("severity", 0) >= 2]
    check(not report.get("errors") and not bad, f"helm lint ({label}): {report.get('errors')} {bad}")


# --- 2. schema ----------------------------------------------------------------
def schema_rejects(values: dict, label: str) -> None:
    with helm.Chart.load(CHART) as chart:
        try:
            chart.validate_schema(values)
        except helm.HelmValuesError:
            return
    check(False, f"values.schema.json accepts {label}: {values}")


# --- 3. Kubernetes schemas ----------------------------------------------------
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def validate_k8s(docs: list[dict], label: str) -> None:
    for d in docs:
        name = f"{label}: {d['kind']}/{d['metadata']['name']}"
        if (d["apiVersion"], d["kind"]) in CRD_KINDS:
            # No schema ships for CRDs: check the fields the operator needs.
            spec = d.get("spec", {})
            check(bool(spec.get("selector", {}).get("matchLabels")), f"{name}: selector")
            check(all(e.get("port") for e in spec.get("endpoints", [])) and spec.get("endpoints"), f"{name}: endpoints")
            continue
        try:
            kubernetes_validate.validate(d, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            check(False, f"{name} invalid for Kubernetes {KUBE_VERSION}: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError:
            check(False, f"{name}: no Kubernetes {KUBE_VERSION} schema for {d['apiVersion']} {d['kind']}")


# --- 4. what the chart promises -----------------------------------------------
# (liveness, readiness) grpc.health.v1 services per role; tests/tests/chart_probes.rs
# checks that the binaries answer them as the chart expects.
PROBE_SERVICES = {
    # Liveness is process-only (a database outage must restart nothing);
    # readiness follows the database.
    "registry": ("grpc.health.v1.Health", "joust.v1.Registry"),
    "node": ("joust.v1.ServingAdmin", ""),
    "router": ("joust.v1.RouterAdmin", ""),
    "detection": ("grpc.health.v1.Health", "joust.v1.Detection"),
}
SECRET_ENV = {"JOUST_DATABASE_URL", "JOUST_DETECT_DATABASE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY_FILE"}


def container(deploy: dict) -> dict:
    containers = deploy["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, deploy["metadata"]["name"]
    return containers[0]


def assert_common(docs: list[dict], label: str, values: dict) -> None:
    tls = bool(((values.get("security") or {}).get("tls") or {}).get("existingSecret"))
    deploys = by_kind(docs, "Deployment")
    check(set(deploys) == {f"{FULL}-registry", f"{FULL}-node", f"{FULL}-router", f"{FULL}-detection"}, f"{label}: deployments {sorted(deploys)}")
    for name, d in deploys.items():
        pod = d["spec"]["template"]["spec"]
        c = container(d)
        port = next(p["containerPort"] for p in c["ports"] if p["name"] == "grpc")
        role = name.rsplit("-", 1)[-1]
        if tls:
            # Kubernetes gRPC probes cannot speak TLS.
            for probe in ("livenessProbe", "readinessProbe"):
                t = c.get(probe, {}).get("tcpSocket")
                check(bool(t) and t.get("port") == port, f"{label}: {name} {probe} is a TCP probe on port {port} with TLS: {c.get(probe)}")
        else:
            for probe in ("livenessProbe", "readinessProbe"):
                g = c.get(probe, {}).get("grpc")
                check(bool(g) and g.get("port") == port, f"{label}: {name} {probe} is a gRPC probe on port {port}: {c.get(probe)}")
            want = PROBE_SERVICES[role]
            got = tuple(c.get(p, {}).get("grpc", {}).get("service", "") for p in ("livenessProbe", "readinessProbe"))
            check(got == want, f"{label}: {name} probes ask grpc.health for {got}, expected {want}")
        psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
        check(psc.get("runAsNonRoot") is True, f"{label}: {name} pod runAsNonRoot")
        check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{label}: {name} pod seccomp")
        check(csc.get("runAsNonRoot") is True, f"{label}: {name} runAsNonRoot")
        check(csc.get("readOnlyRootFilesystem") is True, f"{label}: {name} readOnlyRootFilesystem")
        check(csc.get("allowPrivilegeEscalation") is False, f"{label}: {name} allowPrivilegeEscalation")
        check(csc.get("capabilities", {}).get("drop") == ["ALL"], f"{label}: {name} capabilities drop ALL")
        check(csc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{label}: {name} seccomp")
        tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
        vols = {v["name"]: v for v in pod.get("volumes", [])}
        check(len(tmp) == 1 and "emptyDir" in vols.get(tmp[0]["name"], {}), f"{label}: {name} /tmp is an emptyDir")
        check("resources" in c and c["resources"].get("requests"), f"{label}: {name} resources")
        for e in c.get("env", []):
            if e["name"] in SECRET_ENV:
                check("secretKeyRef" in e.get("valueFrom", {}) and "value" not in e, f"{label}: {name} env {e['name']} comes from a secretKeyRef")
        for a in c.get("args", []):
            check(not re.search(r"postgres(ql)?://[^/@\s]*:[^/@\s]*@", a), f"{label}: {name} arg carries a password: {a}")
            check(not a.startswith(("--s3-secret-access-key=", "--s3-access-key-id=", "--database-url=postgres")), f"{label}: {name} secret in args: {a}")
    for name, cm in by_kind(docs, "ConfigMap").items():
        for k, v in (cm.get("data") or {}).items():
            check(k not in SECRET_ENV and "secret" not in k.lower() and "password" not in k.lower(), f"{label}: ConfigMap {name} holds secret-like key {k}")
            check(not re.search(r"://[^/@\s]*:[^/@\s]*@", str(v)), f"{label}: ConfigMap {name} {k} holds a credential")
    # Headless node Service for the router's DNS discovery, and the router pointed at it.
    services = by_kind(docs, "Service")
    headless = services.get(f"{FULL}-node-headless")
    check(headless is not None and headless["spec"].get("clusterIP") == "None", f"{label}: headless node Service with clusterIP None")
    check(headless is not None and headless["spec"].get("publishNotReadyAddresses") is False, f"{label}: headless Service lists only ready nodes")
    for role in ("registry", "node", "router", "detection", "dashboard"):
        check(f"{FULL}-{role}" in services, f"{label}: Service {FULL}-{role}")
    # The dashboard: on the registry pod's address, as a Service.
    reg_c = container(deploys[f"{FULL}-registry"])
    check("--ui-listen=0.0.0.0:7080" in reg_c["args"], f"{label}: the dashboard listens on the pod's address: {reg_c['args']}")
    check(any(a.startswith("--ui-routers=") and "-router." in a for a in reg_c["args"]), f"{label}: the dashboard's serving page asks the router Service: {reg_c['args']}")
    check(any(p["name"] == "http" and p["containerPort"] == 7080 for p in reg_c["ports"]), f"{label}: registry container port http 7080")
    dash = services.get(f"{FULL}-dashboard")
    check(dash is not None and dash["spec"]["ports"] == [{"name": "http", "port": 7080, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"}], f"{label}: dashboard Service port: {dash and dash['spec']['ports']}")
    check(dash is not None and dash["spec"]["selector"].get("app.kubernetes.io/component") == "registry", f"{label}: the dashboard Service selects the registry pods")
    # Detection scores through the router Service and finds the registry.
    det_args = container(deploys[f"{FULL}-detection"])["args"]
    check(det_args[:2] == ["detect", "serve"], f"{label}: detection runs `joust detect serve`: {det_args}")
    router_args = container(deploys[f"{FULL}-router"])["args"]
    check(router_args[0] == "route", f"{label}: router runs `joust route`")
    check(f"--nodes={FULL}-node-headless.{NAMESPACE}.svc.cluster.local:7071" in router_args, f"{label}: router --nodes is the headless DNS name: {router_args}")
    scheme = "https" if tls else "http"
    reg_url = f"--registry={scheme}://{FULL}-registry.{NAMESPACE}.svc.cluster.local:7070"
    check(reg_url in router_args and reg_url in container(deploys[f"{FULL}-node"])["args"] and reg_url in det_args, f"{label}: node, router and detection find the registry Service")
    check(f"--router={scheme}://{FULL}-router.{NAMESPACE}.svc.cluster.local:7072" in det_args, f"{label}: detection scores through the router Service: {det_args}")
    node_values = values.get("node") or {}
    # The OIP REST API: a flag, a container port and a Service port per role (0: off).
    for role in ("node", "router"):
        http_port = (values.get(role) or {}).get("httpPort", {"node": 8071, "router": 8072}[role])
        args = container(deploys[f"{FULL}-{role}"])["args"]
        ports = container(deploys[f"{FULL}-{role}"])["ports"]
        svc_ports = services[f"{FULL}-{role}"]["spec"]["ports"]
        if http_port:
            check(f"--http-listen=0.0.0.0:{http_port}" in args, f"{label}: {role} --http-listen on the pod's address: {args}")
            check(any(p["name"] == "http" and p["containerPort"] == http_port for p in ports), f"{label}: {role} container port http {http_port}")
            check({"name": "http", "port": http_port, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"} in svc_ports, f"{label}: {role} Service port http: {svc_ports}")
        else:
            check("--http-listen=off" in args, f"{label}: {role} --http-listen=off with httpPort 0: {args}")
            check(all(p["name"] != "http" for p in ports + svc_ports), f"{label}: {role} no http port with httpPort 0")
    models = node_values.get("models") or []
    node_args = container(deploys[f"{FULL}-node"])["args"]
    check([a for a in node_args if a.startswith("--model=")] == [f"--model={m}" for m in models], f"{label}: node --model per values: {node_args}")
    # Nodes follow every champion and challenger: no helm upgrade per trial.
    check(("--follow-all" in node_args) == node_values.get("followAll", True), f"{label}: nodes --follow-all: {node_args}")
    # Make-before-break, explicit: the nodes' unbound grace and the routers' ready-node count.
    check(f"--unbound-grace={node_values.get('unboundGrace', '30s')}" in node_args, f"{label}: nodes --unbound-grace: {node_args}")
    check(f"--min-ready-nodes={(values.get('router') or {}).get('minReadyNodes', 1)}" in router_args, f"{label}: router --min-ready-nodes: {router_args}")
    check(set(by_kind(docs, "PodDisruptionBudget")) == {f"{FULL}-registry", f"{FULL}-node", f"{FULL}-router", f"{FULL}-detection"}, f"{label}: a PDB per role")
    # Selectors of every Service and PDB match the pods of a Deployment.
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in deploys.values()]
    for kind in ("Service", "PodDisruptionBudget"):
        for name, o in by_kind(docs, kind).items():
            sel = o["spec"]["selector"]
            sel = sel.get("matchLabels", sel)
            check(any(all(l.get(k) == v for k, v in sel.items()) for l in pod_labels), f"{label}: {kind} {name} selects no pod")


def assert_default(docs: list[dict]) -> None:
    label = "default"
    deploys = by_kind(docs, "Deployment")
    for role in ("registry", "node", "router"):
        check(deploys[f"{FULL}-{role}"]["spec"].get("replicas") == 1, f"{label}: {role} replicas 1")
    check(not by_kind(docs, "HorizontalPodAutoscaler"), f"{label}: no HPA")
    check(not by_kind(docs, "Secret"), f"{label}: the chart creates no Secret by default")
    check(not by_kind(docs, "ServiceMonitor"), f"{label}: no ServiceMonitor by default")
    reg = container(deploys[f"{FULL}-registry"])
    check("--database-url=sqlite:///data/registry.db" in reg["args"], f"{label}: registry on SQLite without a database secret")
    check(not reg.get("env"), f"{label}: no secret env without secrets")
    det = container(deploys[f"{FULL}-detection"])
    check(deploys[f"{FULL}-detection"]["spec"].get("replicas") == 1, f"{label}: detection replicas 1")
    check("--database-url=sqlite:///data/detect.db" in det["args"] and "--evidence-store=file:///data" in det["args"], f"{label}: detection on SQLite and file evidence: {det['args']}")
    check(not det.get("env"), f"{label}: detection has no secret env without secrets")


def assert_production(docs: list[dict]) -> None:
    label = "production"
    deploys = by_kind(docs, "Deployment")
    check(deploys[f"{FULL}-registry"]["spec"].get("replicas") == 2, f"{label}: 2 registries")
    for role in ("node", "router"):
        check("replicas" not in deploys[f"{FULL}-{role}"]["spec"], f"{label}: {role} replicas left to the HPA")
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    check(set(hpas) == {f"{FULL}-node", f"{FULL}-router"}, f"{label}: HPAs {sorted(hpas)}")
    if len(hpas) == 2:
        check(hpas[f"{FULL}-node"]["spec"]["minReplicas"] == 3, f"{label}: at least 3 nodes")
        check(hpas[f"{FULL}-router"]["spec"]["minReplicas"] == 2, f"{label}: at least 2 routers")
        for n, h in hpas.items():
            check(h["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": n}, f"{label}: HPA {n} target")
    check(not by_kind(docs, "Secret"), f"{label}: no chart-made Secret in production")
    reg = container(deploys[f"{FULL}-registry"])
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in reg.get("env", [])}
    check(env.get("JOUST_DATABASE_URL") == {"name": "joust-database", "key": "database-url"}, f"{label}: database URL from existingSecret: {env}")
    check(env.get("AWS_ACCESS_KEY_ID") == {"name": "joust-s3", "key": "access-key-id"}, f"{label}: S3 key id from existingSecret")
    check(env.get("AWS_SECRET_ACCESS_KEY") == {"name": "joust-s3", "key": "secret-access-key"}, f"{label}: S3 secret from existingSecret")
    check("--blobs=s3://joust-artifacts/prod" in reg["args"], f"{label}: blobs in the S3 bucket: {reg['args']}")
    check(not any(a.startswith("--database-url") for a in reg["args"]), f"{label}: no --database-url arg with PostgreSQL")
    vols = {v["name"] for v in deploys[f"{FULL}-registry"]["spec"]["template"]["spec"]["volumes"]}
    check(vols == {"tmp"}, f"{label}: stateless registry pods (volumes {vols})")
    det = container(deploys[f"{FULL}-detection"])
    denv = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in det.get("env", [])}
    check(denv.get("JOUST_DETECT_DATABASE_URL") == {"name": "joust-detect-database", "key": "database-url"}, f"{label}: detection database URL from its Secret: {denv}")
    check(denv.get("AWS_SECRET_ACCESS_KEY") == {"name": "joust-s3", "key": "secret-access-key"}, f"{label}: detection S3 secret from existingSecret")
    check("--evidence-store=s3://joust-artifacts/evidence" in det["args"] and not any(a.startswith("--database-url") for a in det["args"]), f"{label}: detection evidence in S3, database from the Secret: {det['args']}")
    check(deploys[f"{FULL}-detection"]["spec"].get("replicas") == 2, f"{label}: 2 detection replicas")
    sms = by_kind(docs, "ServiceMonitor")
    check(set(sms) == {f"{FULL}-registry", f"{FULL}-node", f"{FULL}-router", f"{FULL}-detection"}, f"{label}: ServiceMonitors {sorted(sms)}")


def assert_dev_secret() -> None:
    """devSecret.create makes one Secret and the registry reads it by reference."""
    values = {"devSecret": {"create": True, "databaseUrl": "postgres://u:p@db/joust", "s3AccessKeyId": "k", "s3SecretAccessKey": "s"}, "s3": {"bucket": "b"}}
    docs = render(values)
    validate_k8s(docs, "dev-secret")
    secrets = by_kind(docs, "Secret")
    check(set(secrets) == {f"{FULL}-dev"}, f"dev-secret: one Secret {sorted(secrets)}")
    reg = container(by_kind(docs, "Deployment")[f"{FULL}-registry"])
    env = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in reg.get("env", [])}
    check(env == dict.fromkeys(["JOUST_DATABASE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"], f"{FULL}-dev"), f"dev-secret: env {env}")
    # Two registries on SQLite would each have their own database: refused.
    try:
        render({"registry": {"replicas": 2}})
        check(False, "registry.replicas 2 without PostgreSQL renders")
    except helm.HelmRenderError as e:
        check("needs PostgreSQL" in str(e), f"registry.replicas 2 without PostgreSQL: {e}")


SECURE_VALUES = {
    "security": {
        "tls": {"existingSecret": "joust-tls", "mutual": True},
        "auth": {
            "tokensSecret": "joust-tokens",
            "jwt": {"existingSecret": "joust-jwt", "algorithm": "PUBLIC_KEY", "issuer": "https://idp.example", "audience": "joust"},
            "serviceTokenSecret": "joust-service-token",
        },
        "rateLimit": {"perSecond": 500, "burst": 1000},
    }
}


def assert_secure() -> list[dict]:
    """TLS, mutual TLS, tokens, JWT and the service token: files from Secrets, flags on every role."""
    label = "secure"
    docs = render(SECURE_VALUES)
    validate_k8s(docs, label)
    assert_common(docs, label, SECURE_VALUES)
    deploys = by_kind(docs, "Deployment")
    want_args = {
        "--tls-cert=/etc/joust/tls/tls.crt",
        "--tls-key=/etc/joust/tls/tls.key",
        "--tls-ca=/etc/joust/tls/ca.crt",
        "--tls-client-ca=/etc/joust/tls/ca.crt",
        "--auth-tokens-file=/etc/joust/auth/tokens",
        "--auth-jwt-public-key-file=/etc/joust/jwt/key",
        "--auth-jwt-issuer=https://idp.example",
        "--auth-jwt-audience=joust",
        "--token-file=/etc/joust/token/token",
    }
    want_secrets = {"tls": "joust-tls", "auth-tokens": "joust-tokens", "jwt-key": "joust-jwt", "service-token": "joust-service-token"}
    for name, d in deploys.items():
        c = container(d)
        missing = want_args - set(c["args"])
        check(not missing, f"{label}: {name} lacks {sorted(missing)}")
        vols = {v["name"]: v for v in d["spec"]["template"]["spec"]["volumes"]}
        for vol, secret in want_secrets.items():
            check(vols.get(vol, {}).get("secret", {}).get("secretName") == secret, f"{label}: {name} volume {vol} from Secret {secret}")
        mounts = {m["name"]: m for m in c["volumeMounts"]}
        for vol in want_secrets:
            check(mounts.get(vol, {}).get("readOnly") is True, f"{label}: {name} mounts {vol} read-only")
    router_args = container(deploys[f"{FULL}-router"])["args"]
    check("--rate-limit-per-second=500" in router_args and "--rate-limit-burst=1000" in router_args, f"{label}: the router is rate limited: {router_args}")
    check(not any(a.startswith("--rate-limit") for a in container(deploys[f"{FULL}-node"])["args"]), f"{label}: nodes are not rate limited")
    schema_rejects({"security": {"auth": {"jwt": {"algorithm": "RS512"}}}}, "an unknown JWT algorithm")
    schema_rejects({"security": {"tls": {"secret": "x"}}}, "a typo under security.tls")
    try:
        render({"security": {"auth": {"jwt": {"existingSecret": "k", "audience": "joust"}}}})
        check(False, "a JWT key without issuer renders")
    except helm.HelmRenderError as e:
        check("issuer" in str(e), f"a JWT key without issuer: {e}")
    return docs


# --- 5. flags and env vars exist in the binary --------------------------------
def help_text(bin_path: str, sub: str) -> str | None:
    r = subprocess.run([bin_path, *sub.split(), "--help"], capture_output=True, text=True, timeout=30)
    return r.stdout if r.returncode == 0 else None


def assert_cli(docs: list[dict]) -> None:
    bin_path = joust_bin()
    if bin_path is None:
        print("note: no joust binary (JOUST_BIN): flags not checked against the binary", file=sys.stderr)
        return
    deploys = by_kind(docs, "Deployment")
    configmaps = by_kind(docs, "ConfigMap")
    for d in deploys.values():
        c = container(d)
        # `joust detect serve`: the role is a subcommand of `detect`.
        sub = " ".join(c["args"][:2]) if c["args"][0] == "detect" else c["args"][0]
        text = help_text(bin_path, sub)
        if text is None:
            check(False, f"`joust {sub} --help` failed: the chart runs a subcommand the binary lacks")
            continue
        for a in c["args"][len(sub.split()):]:
            flag = a.split("=", 1)[0]
            check(re.search(rf"(^|\s){re.escape(flag)}[\s=<]", text, re.M) is not None, f"`joust {sub}` has no flag {flag}")
        envs = [e["name"] for e in c.get("env", [])]
        for ref in c.get("envFrom", []):
            envs += list((configmaps[ref["configMapRef"]["name"]].get("data") or {}).keys())
        global_env = {"JOUST_LOG", "JOUST_LOG_JSON"}  # read by main.rs / the global flag
        for e in envs:
            check(e in global_env or re.search(rf"env: {re.escape(e)}[=\]]", text) is not None, f"`joust {sub}` reads no env var {e}")


def joust_bin() -> str | None:
    bin_path = Path(os.environ.get("JOUST_BIN") or HERE.parent / "target" / "debug" / "joust").resolve()
    return str(bin_path) if bin_path.exists() else None


def run_rendered() -> None:
    """6. the rendered chart, run as local processes."""
    bin_path = joust_bin()
    if bin_path is None:
        check(os.environ.get("JOUST_TEST_REQUIRE_ALL") != "1", "the rendered chart was not run: no joust binary (JOUST_BIN)")
        print("note: no joust binary (JOUST_BIN): the rendered chart is not run", file=sys.stderr)
        return
    sys.path.insert(0, str(HERE))
    import run_chart  # grpcio and friends: only this step needs them

    print(f"running the rendered chart with {bin_path}")
    for f in run_chart.run(render, validate_k8s, bin_path):
        check(False, f"rendered chart run: {f}")


def main() -> int:
    # SIGTERM (a CI timeout) unwinds like an error: processes and databases are cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"helm SDK {helm.helm_sdk_version()}; Kubernetes schemas {KUBE_VERSION} (kubernetes-validate {kubernetes_validate.__version__})")
    default, production = values_file("default-values.yaml"), values_file("production-values.yaml")
    lint(default, "default")
    lint(production, "production")
    schema_rejects({"node": {"replica": 3}}, "a typo (node.replica)")
    schema_rejects({"registry": {"replicas": "two"}}, "replicas as a string")
    schema_rejects({"node": {"followAll": False, "models": []}}, "a node following nothing")
    schema_rejects({"databse": {}}, "an unknown top-level key")
    schema_rejects({"node": {"unboundGrace": "30"}}, "an unbound grace without a unit")
    schema_rejects({"router": {"minReadyNodes": 0}}, "a router moving before any node is ready")
    schema_rejects({"node": {"config": {"lower_case": "x"}}}, "a config key that is no env var name")
    for label, values, extra in (("default", default, assert_default), ("production", production, assert_production)):
        docs = render(values)
        validate_k8s(docs, label)
        assert_common(docs, label, values)
        extra(docs)
        assert_cli(docs)
    assert_dev_secret()
    assert_cli(assert_secure())
    run_rendered()
    if failures:
        print(f"\n{len(failures)} chart check(s) failed", file=sys.stderr)
        return 1
    print("chart checks passed: lint, schema, Kubernetes validation, render facts, the rendered chart run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
