"""What a kubelet would do with the chart's rendered Deployments, on one
machine and without a cluster (helm/run_chart.py drives it).

Each Deployment becomes one local process: the container's command and
args exactly as rendered (the image's ENTRYPOINT and CMD from the
repository's Dockerfile where the container sets none, the image's binary
path replaced by JOUST_BIN), its environment built as the kubelet builds
it (envFrom ConfigMaps, `value`, `secretKeyRef`/`configMapKeyRef` from the
rendered objects or from the Secrets the caller stands in for, Service
links, `$(VAR)` expansion) and nothing of this process's environment.

Addresses: every container port gets a free loopback port (asked of the
kernel, never fixed); `0.0.0.0:<containerPort>` in args and env becomes
`127.0.0.1:<its port>`, and every Service name the args and env reference
(`name.ns.svc.<domain>:port` and shorter forms) becomes the loopback port
of the container port the Service targets. Volume mounts become
directories of the pod (its `/tmp` is also TMPDIR). An address left
unmapped fails, naming the Deployment.

Probes are answered as the kubelet asks them: `grpc` (grpc.health.v1
Check of the rendered service name, SERVING or fail), `httpGet` (2xx/3xx)
and `tcpSocket`, each with the rendered timeout.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

NO_PROXY = [("grpc.enable_http_proxy", 0)]


class ClusterError(Exception):
    """A rendered object the local run cannot honour, or a pod that failed."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Image:
    """What the chart's image contributes to a container: the Dockerfile's
    final stage ENTRYPOINT and CMD, and the path of the binary it ships."""

    entrypoint: list[str]
    cmd: list[str]
    binary: str

    @classmethod
    def from_dockerfile(cls, path: Path) -> Image:
        stage = path.read_text().split("\nFROM ")[-1]

        def exec_form(instr: str) -> list[str]:
            m = re.search(rf"^{instr}\s+(\[.*\])\s*$", stage, re.M)
            if not m:
                raise ClusterError(f"{path}: the final stage has no {instr} in exec form")
            return json.loads(m.group(1))

        entrypoint = exec_form("ENTRYPOINT")
        return cls(entrypoint, exec_form("CMD"), entrypoint[0])


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it when this process dies, so
    that no exit path (even SIGKILL of the test) leaves a role running."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def spawn(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    out = log.open("ab")
    try:
        return subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    finally:
        out.close()


def stop_process(proc: subprocess.Popen, grace: float) -> int | None:
    """SIGTERM, then SIGKILL after `grace` seconds; the exit code, or None
    when it had to be killed."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(f"    {line}" for line in text[-lines:])


@dataclass
class Pod:
    """One replica of a Deployment, as a local process."""

    deployment: str
    container: dict
    dir: Path
    ports: dict[int, int] = field(default_factory=dict)  # containerPort → loopback port
    names: dict[str, int] = field(default_factory=dict)  # port name → containerPort
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    started: float = 0.0

    @property
    def log(self) -> Path:
        return self.dir / "log"

    def local_port(self, port: int | str) -> int:
        """The loopback port of a container port given by number or name."""
        number = self.names.get(port) if isinstance(port, str) else port
        if number not in self.ports:
            raise ClusterError(f"Deployment {self.deployment}: port {port!r} is no containerPort of {sorted(self.names)}")
        return self.ports[number]

    def exited(self) -> str | None:
        if self.proc is not None and self.proc.poll() is not None:
            return f"Deployment {self.deployment}: the process exited with {self.proc.returncode}; log {self.log}:\n{log_tail(self.log)}"
        return None


def _matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


class LocalCluster:
    """The rendered Deployments as local processes, one per Deployment."""

    def __init__(self, docs: list[dict], joust_bin: str, image: Image, secrets: dict[str, dict[str, str]], workdir: Path, cluster_domain: str = "cluster.local"):
        self.joust_bin = joust_bin
        self.image = image
        self.workdir = workdir
        self.objects = {(d["kind"], d["metadata"]["name"]): d for d in docs}
        self.secrets = {name: dict(data) for name, data in secrets.items()}
        for (kind, name), d in self.objects.items():
            if kind == "Secret":
                self.secrets[name] = {**(d.get("data") or {}), **(d.get("stringData") or {})}
        self.deployments = {n: d for (k, n), d in self.objects.items() if k == "Deployment"}
        self.services = {n: d for (k, n), d in self.objects.items() if k == "Service"}
        self.pods: dict[str, Pod] = {}
        for name, d in sorted(self.deployments.items()):
            containers = d["spec"]["template"]["spec"]["containers"]
            if len(containers) != 1:
                raise ClusterError(f"Deployment {name}: {len(containers)} containers; the local run starts one")
            pod = Pod(name, containers[0], workdir / name)
            for p in containers[0].get("ports", []):
                pod.ports[p["containerPort"]] = free_port()
                if "name" in p:
                    pod.names[p["name"]] = p["containerPort"]
            self.pods[name] = pod
        # Service DNS names (every form a pod may use) → loopback address.
        self.addresses: dict[str, str] = {}
        self.links: dict[str, str] = {}
        for name, svc in sorted(self.services.items()):
            spec = svc["spec"]
            ns = svc["metadata"].get("namespace", "default")
            if not spec.get("selector"):
                continue  # no pods behind it (an external Service): nothing to map
            targets = [p for p in self.pods.values() if _matches(spec["selector"], self.deployments[p.deployment]["spec"]["template"]["metadata"]["labels"])]
            if not targets:
                raise ClusterError(f"Service {name} selects no Deployment's pods")
            pod = targets[0]
            for i, sp in enumerate(spec["ports"]):
                local = pod.local_port(sp.get("targetPort", sp["port"]))
                for host in (f"{name}.{ns}.svc.{cluster_domain}", f"{name}.{ns}.svc", f"{name}.{ns}", name):
                    self.addresses[f"{host}:{sp['port']}"] = f"127.0.0.1:{local}"
                if spec.get("clusterIP") != "None":
                    self._service_links(name, i, sp, local)

    def _service_links(self, name: str, index: int, sp: dict, local: int) -> None:
        """The `<NAME>_SERVICE_HOST`… variables the kubelet gives every pod
        (enableServiceLinks defaults to true) for a Service with a cluster IP."""
        base = name.upper().replace("-", "_")
        proto = sp.get("protocol", "TCP")
        url = f"{proto.lower()}://127.0.0.1:{local}"
        if index == 0:
            self.links |= {f"{base}_SERVICE_HOST": "127.0.0.1", f"{base}_SERVICE_PORT": str(local), f"{base}_PORT": url}
        if sp.get("name"):
            self.links[f"{base}_SERVICE_PORT_{sp['name'].upper().replace('-', '_')}"] = str(local)
        pre = f"{base}_PORT_{local}_{proto}"
        self.links |= {pre: url, f"{pre}_PROTO": proto.lower(), f"{pre}_PORT": str(local), f"{pre}_ADDR": "127.0.0.1"}

    # --- turning a container into a process ---------------------------------
    def _rewrite(self, pod: Pod, text: str, what: str) -> str:
        for cport, local in pod.ports.items():
            text = re.sub(rf"(?:0\.0\.0\.0|\[::\]):{cport}\b", f"127.0.0.1:{local}", text)
        for addr in sorted(self.addresses, key=len, reverse=True):
            text = re.sub(rf"(?<![\w.-]){re.escape(addr)}\b", self.addresses[addr], text)
        mounts = {m["mountPath"]: str(pod.dir / m["name"]) for m in pod.container.get("volumeMounts", [])}
        if mounts:  # one pass: a pod directory may itself lie under a mount path (/tmp)
            paths = "|".join(re.escape(m) for m in sorted(mounts, key=len, reverse=True))
            text = re.sub(rf"(?<![\w.])({paths})(?=/|$)", lambda m: mounts[m.group(1)], text)
        if re.search(r"0\.0\.0\.0:|\[::\]:", text):
            raise ClusterError(f"Deployment {pod.deployment}: {what} listens on a port the container does not declare: {text}")
        if re.search(r"\.svc(\.|:|\b)", text):
            raise ClusterError(f"Deployment {pod.deployment}: {what} names a Service the chart does not render: {text}")
        return text

    def _env_value(self, pod: Pod, e: dict) -> str:
        if "value" in e:
            return str(e["value"])
        src = e.get("valueFrom", {})
        for key, objects, kind in (("secretKeyRef", self.secrets, "Secret"), ("configMapKeyRef", None, "ConfigMap")):
            ref = src.get(key)
            if ref is None:
                continue
            data = objects.get(ref["name"]) if objects is not None else (self.objects.get(("ConfigMap", ref["name"]), {}).get("data"))
            if data is None or ref["key"] not in data:
                # The kubelet refuses to start the container (CreateContainerConfigError).
                raise ClusterError(f"Deployment {pod.deployment}: env {e['name']} refers to {kind} {ref['name']} key {ref['key']}, which does not exist")
            return data[ref["key"]]
        raise ClusterError(f"Deployment {pod.deployment}: env {e['name']}: unsupported source {src}")

    def _prepare(self, pod: Pod) -> None:
        c = pod.container
        for m in c.get("volumeMounts", []):
            (pod.dir / m["name"]).mkdir(parents=True, exist_ok=True)
        env: dict[str, str] = dict(self.links)
        for ref in c.get("envFrom", []):
            cm = ref.get("configMapRef")
            if cm is None:
                raise ClusterError(f"Deployment {pod.deployment}: envFrom {ref}: only configMapRef is run locally")
            data = self.objects.get(("ConfigMap", cm["name"]), {}).get("data")
            if data is None:
                raise ClusterError(f"Deployment {pod.deployment}: envFrom ConfigMap {cm['name']} is not rendered")
            env |= {ref.get("prefix", "") + k: str(v) for k, v in data.items()}
        for e in c.get("env", []):
            env[e["name"]] = self._env_value(pod, e)
        env = {k: self._rewrite(pod, v, f"env {k}") for k, v in env.items()}

        def expand(arg: str) -> str:  # Kubernetes' $(VAR) expansion
            return re.sub(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), arg)

        command = c.get("command") or self.image.entrypoint
        args = c.get("args") if "args" in c else ([] if "command" in c else self.image.cmd)
        argv = [self._rewrite(pod, expand(a), f"arg {a!r}") for a in [*command, *args]]
        argv = [self.joust_bin if a == self.image.binary else a for a in argv]
        tmp = next((pod.dir / m["name"] for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"), pod.dir)
        # The image's environment (distroless: PATH and HOME), then the pod's.
        pod.env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(pod.dir), "TMPDIR": str(tmp), **env}
        pod.argv = argv

    def start(self) -> None:
        """Starts every Deployment's process at once, as an apply would."""
        for pod in self.pods.values():
            pod.dir.mkdir(parents=True, exist_ok=True)
            self._prepare(pod)
            pod.log.write_text(f"$ {' '.join(pod.argv)}\n")
        for pod in self.pods.values():
            try:
                pod.proc = spawn(pod.argv, pod.env, pod.dir, pod.log)
            except OSError as e:
                raise ClusterError(f"Deployment {pod.deployment}: cannot start {pod.argv[0]}: {e}") from e
            pod.started = time.monotonic()

    def stop(self, order: list[str], grace: float) -> list[str]:
        """SIGTERM in `order` (then the rest), each given `grace` seconds;
        what did not exit cleanly."""
        problems = []
        names = [n for n in order if n in self.pods] + [n for n in self.pods if n not in order]
        for name in names:
            pod = self.pods[name]
            if pod.proc is None:
                continue
            was_running = pod.proc.poll() is None
            code = stop_process(pod.proc, grace)
            if code is None:
                problems.append(f"Deployment {name}: still running {grace:.0f}s after SIGTERM (killed); log {pod.log}")
            elif was_running and code != 0:
                problems.append(f"Deployment {name}: exited with {code} on SIGTERM; log {pod.log}")
        return problems

    def service(self, name: str, port: int) -> str:
        """The loopback address standing in for Service `name` port `port`."""
        return self.addresses[f"{name}:{port}"]

    # --- probes ---------------------------------------------------------------
    def probe(self, pod: Pod, kind: str) -> tuple[bool, str]:
        """One probe as the kubelet runs it: (success, what it saw)."""
        p = pod.container.get(kind)
        if p is None:
            raise ClusterError(f"Deployment {pod.deployment}: no {kind}")
        timeout = float(p.get("timeoutSeconds", 1))
        if "grpc" in p:
            addr = f"127.0.0.1:{pod.local_port(p['grpc']['port'])}"
            service = p["grpc"].get("service", "")
            try:
                with grpc.insecure_channel(addr, options=NO_PROXY) as ch:
                    r = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)
                return r.status == health_pb2.HealthCheckResponse.SERVING, f"grpc {addr} service {service!r}: {status}"
            except grpc.RpcError as e:
                return False, f"grpc {addr} service {service!r}: {e.code().name} {e.details()}"
        if "httpGet" in p:
            h = p["httpGet"]
            url = f"{h.get('scheme', 'HTTP').lower()}://127.0.0.1:{pod.local_port(h['port'])}{h.get('path', '/')}"
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            try:
                with opener.open(urllib.request.Request(url, headers={x["name"]: x["value"] for x in h.get("httpHeaders", [])}), timeout=timeout) as r:
                    return 200 <= r.status < 400, f"httpGet {url}: {r.status}"
            except (urllib.error.URLError, OSError) as e:
                return False, f"httpGet {url}: {e}"
        if "tcpSocket" in p:
            addr = ("127.0.0.1", pod.local_port(p["tcpSocket"]["port"]))
            try:
                socket.create_connection(addr, timeout=timeout).close()
                return True, f"tcpSocket {addr[0]}:{addr[1]}: connected"
            except OSError as e:
                return False, f"tcpSocket {addr[0]}:{addr[1]}: {e}"
        raise ClusterError(f"Deployment {pod.deployment}: {kind} {sorted(p)}: only grpc, httpGet and tcpSocket probes run locally")

    def wait_probe(self, name: str, kind: str, within: float, want: bool = True, since: float | None = None) -> float:
        """Polls a probe until it answers `want`; the time since `since`
        (default: now). Fails (naming the Deployment, the probe and what it
        last saw) `within` seconds after `since` or when the process exits."""
        pod = self.pods[name]
        start = time.monotonic() if since is None else since
        while True:
            ok, seen = self.probe(pod, kind)
            if ok == want:
                return time.monotonic() - start
            if (dead := pod.exited()) is not None:
                raise ClusterError(f"{dead}\n  ({kind} last saw: {seen})")
            if time.monotonic() - start > within:
                verb = "succeed" if want else "fail"
                raise ClusterError(f"Deployment {name}: {kind} did not {verb} within {within:.0f}s: {seen}; log {pod.log}:\n{log_tail(pod.log)}")
            time.sleep(0.1)

    def liveness_window(self, name: str) -> float:
        """How long the kubelet lets a new container fail its liveness probe
        before restarting it: initialDelay + period × failureThreshold."""
        p = self.pods[name].container["livenessProbe"]
        return p.get("initialDelaySeconds", 0) + p.get("periodSeconds", 10) * p.get("failureThreshold", 3)
