"""The Helm chart (deploy/helm/alertflow): rendered by ``helm template``, validated by
``kubeconform`` against Kubernetes' JSON schemas, and in step with the image and the settings."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.settings import VARIABLES, Settings, load_settings
from tests.harness import REPO
from tests.unit.test_deploy import instruction

CHART = REPO / "deploy" / "helm" / "alertflow"
KUBERNETES = "1.33.0"  # the version validated against
BOOTSTRAP = "kafka-0.kafka:9092,kafka-1.kafka:9092"
SET_BOOTSTRAP = "kafka.bootstrap=" + BOOTSTRAP.replace(",", "\\,")  # --set splits at commas

needs_helm = pytest.mark.skipif(
    shutil.which("helm") is None, reason="helm is not on PATH (scripts/install-test-tools)"
)
needs_kubeconform = pytest.mark.skipif(
    shutil.which("kubeconform") is None or importlib.util.find_spec("kubernetes_validate") is None,
    reason="kubeconform (scripts/install-test-tools) or kubernetes-validate (schemas) is missing",
)
pytestmark = needs_helm


def helm_template(*values: str) -> subprocess.CompletedProcess[str]:
    argv = ["helm", "template", "af", str(CHART), "--namespace", "ops"]
    for value in values:
        argv += ["--set", value]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def render(*values: str) -> list[dict[str, Any]]:
    done = helm_template(SET_BOOTSTRAP, *values)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def one(documents: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    [found] = [d for d in documents if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    return found


def container(documents: list[dict[str, Any]]) -> dict[str, Any]:
    [worker] = one(documents, "StatefulSet")["spec"]["template"]["spec"]["containers"]
    return worker


def environment(documents: list[dict[str, Any]]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container(documents)["env"]}


def standalone_schemas(target: Path, documents: list[dict[str, Any]]) -> Path:
    """Kubernetes' JSON schemas of the kinds in ``documents``, as the kubernetes-validate wheel
    ships them, made standalone (definitions inlined) in the layout kubeconform reads."""
    spec = importlib.util.find_spec("kubernetes_validate")
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).parent / "kubernetes-json-schema" / f"v{KUBERNETES}-local-strict"
    shared = '"/api/_definitions.json#/$defs/'
    definitions = json.loads(
        (source / "_definitions.json").read_text().replace(shared, '"#/$defs/')
    )
    out = target / f"v{KUBERNETES}-standalone-strict"
    out.mkdir(parents=True)
    for document in documents:
        group, _, version = document["apiVersion"].rpartition("/")
        name = "-".join(filter(None, (document["kind"].lower(), group.split(".")[0], version)))
        schema = json.loads((source / f"{name}.json").read_text().replace(shared, '"#/$defs/'))
        schema.pop("$id", None)
        schema["$defs"] = definitions["$defs"]
        (out / f"{name}.json").write_text(json.dumps(schema))
    return target


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    documents = render("config.routes.receiver=ops", "secrets.ALERTFLOW_API_TOKEN=s3cret")
    kinds = [d for d in documents if d["kind"] != "ServiceMonitor"]
    return standalone_schemas(tmp_path_factory.mktemp("kubernetes-json-schema"), kinds)


def kubeconform(manifests: str, schemas: Path) -> subprocess.CompletedProcess[str]:
    location = (
        f"{schemas}/{{{{ .NormalizedKubernetesVersion }}}}-standalone{{{{ .StrictSuffix }}}}/"
    )
    location += "{{ .ResourceKind }}{{ .KindSuffix }}.json"
    return subprocess.run(
        # The Prometheus Operator's ServiceMonitor has no schema here (a CRD):
        # test_service_monitor_scrapes_each_worker_once checks it.
        [
            *("kubeconform", "-strict", "-summary", "-kubernetes-version", KUBERNETES),
            *("-skip", "ServiceMonitor", "-schema-location", location, "-"),
        ],
        input=manifests,
        capture_output=True,
        text=True,
        timeout=120,
    )


@needs_kubeconform
@pytest.mark.parametrize(
    "values",
    [
        (),
        ("config.routes.receiver=ops", "secrets.ALERTFLOW_API_TOKEN=s3cret"),
        ("existingSecret=alertflow-secrets", "serviceMonitor.enabled=false"),
    ],
    ids=["defaults", "config-and-secret", "existing-secret"],
)
def test_chart_renders_and_validates(values: tuple[str, ...], schemas: Path) -> None:
    done = helm_template(SET_BOOTSTRAP, *values)
    assert done.returncode == 0, done.stderr
    checked = kubeconform(done.stdout, schemas)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Invalid: 0, Errors: 0" in checked.stdout


@needs_kubeconform
def test_kubeconform_rejects_what_kubernetes_would(schemas: Path) -> None:
    documents = render()
    one(documents, "StatefulSet")["spec"]["replica"] = 3  # a typo of replicas
    container(documents)["ports"][0]["containerPort"] = "http"
    checked = kubeconform(yaml.safe_dump_all(documents), schemas)
    assert checked.returncode != 0
    assert "'replica' not allowed" in checked.stdout and "containerPort" in checked.stdout


def test_bootstrap_is_required() -> None:
    done = helm_template()
    assert done.returncode != 0 and "kafka.bootstrap is required" in done.stderr


def test_workers_keep_their_tables_on_a_persistent_volume() -> None:
    documents = render()
    statefulset = one(documents, "StatefulSet")
    [claim] = statefulset["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in container(documents)["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == environment(documents)["ALERTFLOW_DATA_DIR"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    pod = statefulset["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's user owns the volume
    assert statefulset["spec"]["serviceName"] == "af-alertflow-workers"


def test_probes_ask_the_real_health_endpoints() -> None:
    worker = container(render())
    [healthcheck] = instruction("HEALTHCHECK")
    assert worker["readinessProbe"]["exec"]["command"] == json.loads(healthcheck.split("CMD ")[1])
    for probe in ("livenessProbe", "startupProbe"):
        assert worker[probe]["httpGet"] == {"path": "/api/v1/health/live", "port": "http"}
    [port] = worker["ports"]
    assert port == {"name": "http", "containerPort": Settings().http_port}


def test_environment_is_settings_alertflow_knows() -> None:
    env = environment(render("config.routes.receiver=ops", "settings.ALERTFLOW_LOG_LEVEL=debug"))
    ours = {name for name in env if name.startswith(("ALERTFLOW_", "KAFKA_"))}
    assert ours - set(VARIABLES) - {"ALERTFLOW_CONFIG"} == set()
    env["ALERTFLOW_HTTP_HOST"] = env["ALERTFLOW_HTTP_HOST"].replace("$(POD_NAME)", "af-alertflow-0")
    settings = load_settings({k: v for k, v in env.items() if k != "ALERTFLOW_CONFIG"})
    assert settings.kafka_bootstrap == BOOTSTRAP and settings.log_level == "debug"
    assert settings.log_format == "json"
    assert settings.http_host == "af-alertflow-0.af-alertflow-workers.ops.svc"


def test_config_file_is_mounted_where_alertflow_config_points(tmp_path: Path) -> None:
    documents = render("config.routes.receiver=ops", "config.partitions=8")
    configmap = one(documents, "ConfigMap")
    [mount] = [m for m in container(documents)["volumeMounts"] if m["name"] == "config"]
    [key] = configmap["data"]
    assert environment(documents)["ALERTFLOW_CONFIG"] == f"{mount['mountPath']}/{key}"
    path = tmp_path / key
    path.write_text(configmap["data"][key])
    assert load_settings({"ALERTFLOW_CONFIG": str(path)}).partitions == 8


@pytest.mark.parametrize(
    ("values", "secret"),
    [(("secrets.ALERTFLOW_API_TOKEN=s3cret",), "af-alertflow"), (("existingSecret=mine",), "mine")],
)
def test_secret_settings_come_from_a_secret(values: tuple[str, ...], secret: str) -> None:
    documents = render(*values)
    [source] = container(documents)["envFrom"]
    assert source == {"secretRef": {"name": secret}}
    made = [d for d in documents if d["kind"] == "Secret"]
    assert [d["metadata"]["name"] for d in made] == ([secret] if secret == "af-alertflow" else [])
    if made:
        assert made[0]["stringData"] == {"ALERTFLOW_API_TOKEN": "s3cret"}


def test_service_monitor_scrapes_each_worker_once() -> None:
    documents = render()
    monitor = one(documents, "ServiceMonitor")
    services = [d for d in documents if d["kind"] == "Service"]
    wanted = monitor["spec"]["selector"]["matchLabels"].items()
    [scraped] = [s for s in services if wanted <= s["metadata"]["labels"].items()]
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {port["name"] for port in scraped["spec"]["ports"]}
    assert (
        scraped["spec"]["selector"].items()
        <= one(documents, "StatefulSet")["spec"]["template"]["metadata"]["labels"].items()
    )
