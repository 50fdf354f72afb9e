"""Every `kubectl create <kind>` subcommand for the kinds the dev cluster serves, with kubectl 1.32:
it sends protobuf bodies (checked from its -v=8 request log), each object is read back with
`kubectl get -o json` and the values given on the command line must be there. Then kube's answers
to protobuf bodies the dev cluster cannot use, over raw HTTP."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import KubectlRunner, make_kubectl
from example_crd import example_crd
from k8s_protobuf import CORE, META, envelope, new
from recurringjob.devcluster.server import DevCluster

PROTOBUF = "application/vnd.kubernetes.protobuf"
Obj = dict[str, Any]

# A throwaway self-signed EC certificate for `kubectl create secret tls` (valid until 2126): test data.
TLS_CERT = """-----BEGIN CERTIFICATE-----
MIIBizCCATGgAwIBAgIUNrRaPfHussYsmhzBt4TjfNSDBzQwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPZGV2Y2x1c3Rlci10ZXN0MCAXDTI2MTIwMTAwNDkxN1oYDzIx
MjYxMTA3MDA0OTE3WjAaMRgwFgYDVQQDDA9kZXZjbHVzdGVyLXRlc3QwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAASFsY5NGrbPw5rZPYu6j1NvcwzZQZIw1AVdSUhn
y0OjOBBJVj+PMh0mofSjwVautyH68b+2A2aSVDmuQv9DdJKeo1MwUTAdBgNVHQ4E
FgQUP+6LegWIJD4fqkMb9OiVqpPkHxUwHwYDVR0jBBgwFoAUP+6LegWIJD4fqkMb
9OiVqpPkHxUwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiAa94/+
4R+lV1mzg4TAQQo1pXSYlC09wUEHVj1lG026NQIhAL/Pm6VucOn3uZHstmoOFyGh
TLCXHM2UE/C9gff2enyJ
-----END CERTIFICATE-----
"""
TLS_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg7WVqVoPOAHjbIRBf
Qm6/H92huvseX/Cj/VKmmNNXSMyhRANCAASFsY5NGrbPw5rZPYu6j1NvcwzZQZIw
1AVdSUhny0OjOBBJVj+PMh0mofSjwVautyH68b+2A2aSVDmuQv9DdJKe
-----END PRIVATE KEY-----
"""
BINARY = bytes(range(256))


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inputs")
    (path / "tls.crt").write_text(TLS_CERT)
    (path / "tls.key").write_text(TLS_KEY)
    (path / "blob.bin").write_bytes(BINARY)
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    with DevCluster(tmp_path_factory.mktemp("devcluster")) as dev:
        yield dev


@pytest.fixture(scope="module")
def kubectl(cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> KubectlRunner:
    return make_kubectl(cluster, tmp_path_factory.mktemp("kubectl-cache"))


def spec_of(obj: Obj) -> Obj:
    spec = obj["spec"]
    assert isinstance(spec, dict)
    return spec


def container(obj: Obj) -> Obj:
    spec = obj["spec"]["template"]["spec"]
    assert len(spec["containers"]) == 1
    first = spec["containers"][0]
    assert isinstance(first, dict)
    return first


# (create arguments after `kubectl create`, what to read back, the check on the object read back)
CASES: list[tuple[list[str], list[str], Callable[[Obj], None]]] = [
    (
        ["namespace", "team-a"],
        ["namespace", "team-a"],
        lambda o: _eq(o["metadata"]["name"], "team-a"),
    ),
    (
        ["configmap", "settings", "--from-literal=a=b", "--from-literal=c=d", "--from-file=blob.bin"],
        ["configmap", "settings"],
        lambda o: (_eq(o["data"], {"a": "b", "c": "d"}), _eq(o["binaryData"], {"blob.bin": b64(BINARY)})),
    ),
    (
        ["secret", "generic", "creds", "--from-literal=password=hunter2", "--type=example.dev/creds"],
        ["secret", "creds"],
        lambda o: (_eq(o["data"], {"password": b64("hunter2")}), _eq(o["type"], "example.dev/creds")),
    ),
    (
        ["secret", "tls", "web-tls", "--cert=tls.crt", "--key=tls.key"],
        ["secret", "web-tls"],
        lambda o: (
            _eq(o["type"], "kubernetes.io/tls"),
            _eq(base64.b64decode(o["data"]["tls.crt"]).decode(), TLS_CERT),
            _eq(base64.b64decode(o["data"]["tls.key"]).decode(), TLS_KEY),
        ),
    ),
    (
        [
            "secret",
            "docker-registry",
            "pull",
            "--docker-server=registry.example.dev",
            "--docker-username=robot",
            "--docker-password=s3cret",
        ],
        ["secret", "pull"],
        lambda o: (
            _eq(o["type"], "kubernetes.io/dockerconfigjson"),
            _eq(
                json.loads(base64.b64decode(o["data"][".dockerconfigjson"]))["auths"]["registry.example.dev"][
                    "username"
                ],
                "robot",
            ),
        ),
    ),
    (["serviceaccount", "robot"], ["serviceaccount", "robot"], lambda o: _eq(o["metadata"]["name"], "robot")),
    (
        ["job", "manual", "--image=busybox:1.36", "--", "echo", "hello"],
        ["job", "manual"],
        lambda o: (
            _eq(container(o)["image"], "busybox:1.36"),
            _eq(container(o)["command"], ["echo", "hello"]),
            _eq(o["spec"]["template"]["spec"]["restartPolicy"], "Never"),
        ),
    ),
    (
        ["deployment", "web", "--image=nginx:1.27", "--replicas=3", "--port=8080"],
        ["deployment", "web"],
        lambda o: (
            _eq(spec_of(o)["replicas"], 3),
            _eq(container(o)["image"], "nginx:1.27"),
            _eq(container(o)["ports"], [{"containerPort": 8080}]),
            _eq(spec_of(o)["selector"], {"matchLabels": {"app": "web"}}),
        ),
    ),
    (
        ["service", "clusterip", "api", "--tcp=80:8080"],
        ["service", "api"],
        lambda o: (
            _eq(spec_of(o)["type"], "ClusterIP"),
            _eq(_port(o), {"name": "80-8080", "port": 80, "targetPort": 8080, "protocol": "TCP"}),
        ),
    ),
    (
        ["service", "nodeport", "edge", "--tcp=80:http", "--node-port=30080"],
        ["service", "edge"],
        lambda o: (
            _eq(spec_of(o)["type"], "NodePort"),
            _eq(_port(o)["nodePort"], 30080),
            _eq(_port(o)["targetPort"], "http"),  # IntOrString as a string
        ),
    ),
    (
        ["service", "loadbalancer", "lb", "--tcp=443:8443"],
        ["service", "lb"],
        lambda o: (_eq(spec_of(o)["type"], "LoadBalancer"), _eq(_port(o)["port"], 443)),
    ),
    (
        ["service", "externalname", "ext", "--external-name=db.example.dev"],
        ["service", "ext"],
        lambda o: (
            _eq(spec_of(o)["type"], "ExternalName"),
            _eq(spec_of(o)["externalName"], "db.example.dev"),
        ),
    ),
    (
        ["role", "reader", "--verb=get,list", "--resource=pods,configmaps", "--resource-name=settings"],
        ["role", "reader"],
        lambda o: _eq(
            o["rules"],
            [
                {
                    "apiGroups": [""],
                    "resources": ["pods", "configmaps"],
                    "resourceNames": ["settings"],
                    "verbs": ["get", "list"],
                }
            ],
        ),
    ),
    (
        ["rolebinding", "read", "--role=reader", "--user=alice", "--serviceaccount=default:robot"],
        ["rolebinding", "read"],
        lambda o: (
            _eq(o["roleRef"], {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"}),
            _eq(
                sorted(o["subjects"], key=lambda s: s["kind"]),
                [
                    {"kind": "ServiceAccount", "name": "robot", "namespace": "default"},
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"},
                ],
            ),
        ),
    ),
    (
        ["clusterrole", "health", "--verb=get", "--non-resource-url=/healthz"],
        ["clusterrole", "health"],
        lambda o: _eq(o["rules"], [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]),
    ),
    (
        ["clusterrole", "aggregate", "--aggregation-rule=example.dev/aggregate=true"],
        ["clusterrole", "aggregate"],
        lambda o: _eq(
            o["aggregationRule"],
            {"clusterRoleSelectors": [{"matchLabels": {"example.dev/aggregate": "true"}}]},
        ),
    ),
    (
        ["clusterrolebinding", "health", "--clusterrole=health", "--group=devs"],
        ["clusterrolebinding", "health"],
        lambda o: (
            _eq(o["roleRef"]["name"], "health"),
            _eq(o["subjects"], [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "devs"}]),
        ),
    ),
    (
        ["poddisruptionbudget", "web-half", "--selector=app=web", "--min-available=50%"],
        ["poddisruptionbudget", "web-half"],
        lambda o: (
            _eq(spec_of(o)["minAvailable"], "50%"),
            _eq(spec_of(o)["selector"], {"matchLabels": {"app": "web"}}),
        ),
    ),
    (
        ["pdb", "web-one", "--selector=app=web", "--max-unavailable=1"],
        ["poddisruptionbudget", "web-one"],
        lambda o: _eq(spec_of(o)["maxUnavailable"], 1),  # IntOrString as a number
    ),
]


def _eq(actual: Any, expected: Any) -> None:
    assert actual == expected


def _port(obj: Obj) -> Obj:
    ports = spec_of(obj)["ports"]
    assert len(ports) == 1
    port = ports[0]
    assert isinstance(port, dict)
    return port


@pytest.mark.parametrize(("create", "get", "check"), CASES, ids=[" ".join(c[0][:2]) for c in CASES])
def test_kubectl_create(
    kubectl: KubectlRunner,
    files: Path,
    create: list[str],
    get: list[str],
    check: Callable[[Obj], None],
) -> None:
    args = [
        a.replace("=tls.", f"={files}/tls.").replace("=blob.bin", f"=blob.bin={files}/blob.bin")
        for a in create
    ]
    created = kubectl("-v=8", "create", *args, timeout=60)
    # what makes this test about protobuf: kubectl's own log of the create request it sent
    assert f"Content-Type: {PROTOBUF}" in created.stderr
    check(json.loads(kubectl("get", *get, "-o", "json").stdout))


def test_kubectl_run_and_a_server_dry_run(kubectl: KubectlRunner) -> None:
    kubectl("run", "shell", "--image=busybox", "--labels=team=a", "--", "sleep", "60")
    pod = json.loads(kubectl("get", "pod", "shell", "-o", "json").stdout)
    assert pod["metadata"]["labels"] == {"team": "a"}
    assert pod["spec"]["containers"][0]["args"] == ["sleep", "60"]
    dry = json.loads(
        kubectl("create", "configmap", "dry", "--from-literal=k=v", "--dry-run=server", "-o", "json").stdout
    )
    assert dry["data"] == {"k": "v"}
    assert kubectl("get", "configmap", "dry", check=False).returncode != 0  # nothing stored


def test_the_audit_log_records_protobuf_creates(kubectl: KubectlRunner, cluster: DevCluster) -> None:
    kubectl("create", "deployment", "audited", "--image=nginx")
    entries = [
        e for e in cluster.audit_entries() if e["resource"] == "deployments" and e["name"] == "audited"
    ]
    assert [(e["verb"], e["code"], e["labels"]) for e in entries] == [("create", 201, {"app": "audited"})]


# ---- raw HTTP: kube's answers to protobuf bodies we cannot use ------------------------------------
def send(
    cluster: DevCluster,
    method: str,
    path: str,
    body: bytes | None,
    content_type: str = PROTOBUF,
    accept: str = "",
) -> tuple[int, str, Obj]:
    headers = {"Content-Type": content_type, "Authorization": "Bearer raw-protobuf"}
    if accept:
        headers["Accept"] = accept
    req = urllib.request.Request(cluster.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=20) as response:
            return response.status, response.headers.get("Content-Type", ""), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), json.loads(exc.read())


def configmap(name: str) -> bytes:
    obj = new(f"{CORE}.ConfigMap", metadata=new(f"{META}.ObjectMeta", name=name), data={"k": "v"})
    return envelope("v1", "ConfigMap", obj)


WIDGET_CRD = example_crd(
    "Gadget", {"type": "object", "x-kubernetes-preserve-unknown-fields": True}, status_subresource=False
)


def test_bad_protobuf_bodies_get_kube_status_codes(cluster: DevCluster, kubectl: KubectlRunner) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    cut = new(f"{CORE}.ConfigMap", metadata=new(f"{META}.ObjectMeta", name="garbled"), data={"k": "v"})
    garbled = envelope("v1", "ConfigMap", cut.SerializeToString()[:-3])  # a whole envelope, a cut object
    cases = [
        (base, garbled, 400, "BadRequest", 'ConfigMap in version "v1" cannot be handled as a ConfigMap'),
        (base, b'{"kind": "ConfigMap"}', 400, "BadRequest", "does not appear to be a protobuf message"),
        (base, b"k8s\x00", 400, "BadRequest", "empty body"),
        (base, configmap("cut")[:-3], 400, "BadRequest", "the object provided is unrecognized"),
        (
            base,
            envelope("v1", "Secret", b""),
            400,
            "BadRequest",
            "does not match the expected kind (ConfigMap)",
        ),
        (
            base,
            envelope("apps/v1", "ConfigMap", b""),
            400,
            "BadRequest",
            "does not match the expected API version",
        ),
    ]
    kubectl("apply", "-f", "-", input=json.dumps(WIDGET_CRD))
    kubectl("wait", "--for=condition=Established", "crd/gadgets.example.dev", timeout=60)
    gadgets = "/apis/example.dev/v1/namespaces/default/gadgets"
    cases.append((gadgets, envelope("example.dev/v1", "Gadget", b""), 415, "UnsupportedMediaType", "Gadget"))
    for path, body, code, reason, message in cases:
        status_code, _, status = send(cluster, "POST", path, body)
        assert (status_code, status["kind"], status["reason"], status["code"]) == (
            code,
            "Status",
            reason,
            code,
        )
        assert message in status["message"], status["message"]
    # the server kept serving, and stored none of them
    code, _, listed = send(cluster, "GET", base, None, accept="application/json")
    assert code == 200
    assert "garbled" not in [item["metadata"]["name"] for item in listed["items"]]


def test_accept_negotiation(cluster: DevCluster) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    code, content_type, obj = send(
        cluster, "POST", base, configmap("negotiated"), accept=f"{PROTOBUF},application/json"
    )
    assert (code, content_type, obj["data"]) == (201, "application/json", {"k": "v"})
    code, _, status = send(cluster, "GET", f"{base}/negotiated", None, accept=PROTOBUF)
    assert (code, status["reason"]) == (406, "NotAcceptable")
    assert "application/json" in status["message"]
