"""The manifests of what runs inside the kind cluster: pure rendering, checked as documents."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from podpilot_dev import flannel as dev_flannel
from podpilot_dev.kind.addons import (
    cpuburn,
    flannel,
    metrics_server,
    prometheus,
    prometheus_adapter,
    render,
    to_yaml,
)

REFERENCES = {
    name: f"podpilot.dev/{name}:0123456789ab"
    for name in ("flannel", "metrics-server", "prometheus", "prometheus-adapter", "cpuburn")
}
Document = dict[str, Any]


@pytest.fixture
def documents() -> list[Document]:
    return render(REFERENCES)


def _find(documents: list[Document], kind: str, name: str) -> Document:
    matches = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}"
    return matches[0]


def _workloads(documents: list[Document]) -> Iterator[Document]:
    return (d for d in documents if d["kind"] in ("Deployment", "DaemonSet"))


def _containers(workload: Document) -> list[Document]:
    spec = workload["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def test_every_image_is_a_local_one_never_pulled(documents: list[Document]) -> None:
    seen = set()
    for workload in _workloads(documents):
        for container in _containers(workload):
            assert container["image"] in REFERENCES.values()
            assert container["imagePullPolicy"] == "Never"
            seen.add(container["image"])
    assert seen == {REFERENCES[n] for n in REFERENCES if n != "cpuburn"}


def test_everything_but_flannel_meets_the_restricted_standard(documents: list[Document]) -> None:
    workloads = [
        *_workloads(documents),
        *_workloads(cpuburn.workload("b", "ns", "i", 100)),
        *_workloads(cpuburn.server("s", "ns", "i", 50)),
        *_workloads(cpuburn.driver("d", "ns", "i", "http://s.ns.svc.cluster.local/", 10)),
    ]
    checked = 0
    for workload in workloads:
        if workload["metadata"]["namespace"] == flannel.NAMESPACE:
            continue
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert "hostNetwork" not in pod
        assert all("hostPath" not in volume for volume in pod.get("volumes", []))
        for container in _containers(workload):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert context["readOnlyRootFilesystem"] is True
        checked += 1
    assert checked == 6


def test_flannel_is_deployed_as_kube_flannel_yml_does(documents: list[Document]) -> None:
    namespace = _find(documents, "Namespace", "kube-flannel")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    role = _find(documents, "ClusterRole", "flannel")
    assert {(r["resources"][0], tuple(r["verbs"])) for r in role["rules"]} == {
        ("pods", ("get",)),
        ("nodes", ("get", "list", "watch")),
        ("nodes/status", ("patch",)),
    }
    binding = _find(documents, "ClusterRoleBinding", "flannel")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "flannel", "namespace": "kube-flannel"}
    ]
    config = _find(documents, "ConfigMap", "kube-flannel-cfg")
    net_conf = json.loads(config["data"]["net-conf.json"])
    assert net_conf["Network"] == "10.244.0.0/16"
    assert net_conf["Backend"]["Type"] == "vxlan"
    daemon_set = _find(documents, "DaemonSet", "kube-flannel-ds")
    pod = daemon_set["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert pod["serviceAccountName"] == "flannel"
    assert {"operator": "Exists"} in pod["tolerations"]
    flanneld = pod["containers"][0]
    assert flanneld["command"] == ["/opt/bin/flanneld"]
    assert flanneld["args"] == ["--ip-masq", "--kube-subnet-mgr"]
    assert {e["name"] for e in flanneld["env"]} >= {"POD_NAME", "POD_NAMESPACE"}
    mounts = {m["mountPath"] for m in flanneld["volumeMounts"]}
    assert mounts == {"/run/flannel", "/etc/kube-flannel/", "/run/xtables.lock"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["xtables-lock"]["hostPath"]["type"] == "FileOrCreate"
    assert volumes["cni"]["hostPath"]["path"] == "/etc/cni/net.d"


def test_the_installed_conflist_is_what_flannels_plugin_would_delegate_to() -> None:
    subnet_env = {"FLANNEL_NETWORK": "10.244.0.0/16", "FLANNEL_SUBNET": "10.244.3.1/24",
                  "FLANNEL_MTU": "1450", "FLANNEL_IPMASQ": "true"}  # fmt: skip
    template = flannel.cni_conf_template()
    json.loads(template)  # the ConfigMap's template is valid JSON itself
    installed = json.loads(flannel.render_cni_conf(template, subnet_env))
    assert installed == dev_flannel.bridge_conflist(
        name="cbr0",
        subnet="10.244.3.0/24",
        gateway="10.244.3.1",
        mtu=1450,
        network="10.244.0.0/16",
        default_gateway=True,
        port_mapping=True,
    )
    bridge, portmap = installed["plugins"]
    assert (bridge["type"], bridge["ipam"]["type"], portmap["type"]) == (
        "bridge",
        "host-local",
        "portmap",
    )
    assert bridge["isDefaultGateway"] is True and bridge["ipMasq"] is False


def test_the_install_script_fills_every_placeholder_of_the_template() -> None:
    template = flannel.cni_conf_template()
    for placeholder in (
        flannel.SUBNET_PLACEHOLDER,
        flannel.GATEWAY_PLACEHOLDER,
        flannel.MTU_PLACEHOLDER,
        flannel.NETWORK_PLACEHOLDER,
    ):
        assert placeholder in template
        assert f"s|{placeholder}|" in flannel.INSTALL_CNI_SCRIPT or (
            f's|\\"{placeholder}\\"|' in flannel.INSTALL_CNI_SCRIPT
        )
    assert flannel.CNI_CONFLIST in flannel.INSTALL_CNI_SCRIPT


def test_api_services_point_at_services_that_select_a_serving_pod(
    documents: list[Document],
) -> None:
    api_services = {d["metadata"]["name"]: d for d in documents if d["kind"] == "APIService"}
    assert set(api_services) == {
        "v1beta1.metrics.k8s.io",
        "v1beta1.custom.metrics.k8s.io",
        "v1beta2.custom.metrics.k8s.io",
        "v1beta1.external.metrics.k8s.io",
    }
    for api_service in api_services.values():
        reference = api_service["spec"]["service"]
        service = _find(documents, "Service", reference["name"])
        assert service["metadata"]["namespace"] == reference["namespace"]
        (port,) = service["spec"]["ports"]
        assert port["port"] == reference["port"]
        deployment = _find(documents, "Deployment", reference["name"])
        pod = deployment["spec"]["template"]
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
        port_names = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
        assert port["targetPort"] in port_names


def test_every_service_account_and_role_a_pod_or_binding_names_exists(
    documents: list[Document],
) -> None:
    accounts = {
        (d["metadata"]["namespace"], d["metadata"]["name"])
        for d in documents
        if d["kind"] == "ServiceAccount"
    }
    for workload in _workloads(documents):
        name = workload["spec"]["template"]["spec"]["serviceAccountName"]
        assert (workload["metadata"]["namespace"], name) in accounts
    roles = {d["metadata"]["name"] for d in documents if d["kind"] == "ClusterRole"}
    for binding in (d for d in documents if d["kind"] in ("ClusterRoleBinding", "RoleBinding")):
        role = binding["roleRef"]["name"]
        assert role in roles or role.startswith(("system:", "extension-apiserver-"))
        for subject in binding["subjects"]:
            assert (subject["namespace"], subject["name"]) in accounts


def test_metrics_server_reaches_kind_kubelets_by_internal_ip_without_verifying() -> None:
    documents = render(REFERENCES)
    deployment = _find(documents, "Deployment", "metrics-server")
    assert deployment["metadata"]["namespace"] == "kube-system"
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--kubelet-insecure-tls" in args
    assert "--kubelet-preferred-address-types=InternalIP" in args


def test_prometheus_scrapes_the_charts_metrics_service_like_its_service_monitor() -> None:
    config = yaml.safe_load(prometheus.configuration())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    operator = jobs["podpilot"]
    assert operator["honor_labels"] is True
    keeps = {
        tuple(r["source_labels"]): r["regex"]
        for r in operator["relabel_configs"]
        if r.get("action") == "keep"
    }
    assert keeps == {
        ("__meta_kubernetes_service_label_app_kubernetes_io_part_of",): "podpilot",
        ("__meta_kubernetes_service_label_app_kubernetes_io_component",): "metrics",
        ("__meta_kubernetes_endpointslice_port_name",): "metrics",
    }
    targets = {r["target_label"] for r in operator["relabel_configs"] if "target_label" in r}
    assert targets == {"namespace", "pod", "service", "job", "endpoint"}
    pods = jobs["kubernetes-pods"]
    assert pods["relabel_configs"][0]["source_labels"] == [
        "__meta_kubernetes_pod_annotation_prometheus_io_scrape"
    ]
    for job in jobs.values():
        assert "static_configs" not in job  # nothing outside the cluster is ever scraped


def test_the_adapter_queries_the_in_cluster_prometheus_service(documents: list[Document]) -> None:
    service = _find(documents, "Service", "prometheus")
    port = service["spec"]["ports"][0]["port"]
    expected = f"--prometheus-url=http://prometheus.{service['metadata']['namespace']}.svc:{port}/"
    assert expected in prometheus_adapter.arguments()
    config = _find(documents, "ConfigMap", prometheus_adapter.CONFIGMAP)
    rules = yaml.safe_load(config["data"][prometheus_adapter.CONFIG_FILE])
    assert rules["rules"] and rules["externalRules"]


def test_cpuburn_reads_its_load_from_its_configmap() -> None:
    config_map, deployment = cpuburn.workload("burn", "demo", REFERENCES["cpuburn"], 300)
    assert config_map["data"] == {"millicores": "300"}
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["--millicores-file=/etc/burn/millicores"]
    assert {"name": "MILLICORES", "value": "300"} in container["env"]
    assert pod["volumes"] == [{"name": "burn", "configMap": {"name": "burn"}}]


def test_cpuburn_server_serves_its_work_on_http_behind_a_service() -> None:
    deployment, service = cpuburn.server("web", "demo", REFERENCES["cpuburn"], 50, "250m")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["serve", "--listen=:8080", "--work-ms=50"]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {
        "path": "/healthz",
        "port": "http",
        "scheme": "HTTP",
    }
    # The autoscalers' utilization is relative to this request.
    assert container["resources"]["requests"]["cpu"] == "250m"
    # The count is the autoscaler's: a manifest run again must not take it back (or conflict).
    assert "replicas" not in deployment["spec"]
    assert "volumes" not in pod
    labels = deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"] == labels == {"app.kubernetes.io/name": "web"}
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    assert cpuburn.service_url("web", "demo") == "http://web.demo.svc.cluster.local/"


@pytest.mark.parametrize(("rate", "text"), [(10, "10"), (2.5, "2.5"), (0, "0")])
def test_cpuburn_driver_reads_its_rate_from_its_configmap(rate: float, text: str) -> None:
    url = "http://web.demo.svc.cluster.local/"
    config_map, deployment = cpuburn.driver("load", "demo", REFERENCES["cpuburn"], url, rate)
    assert config_map["metadata"] == {"name": "load", "namespace": "demo"}
    assert config_map["data"] == {"rate": text}
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # never two drivers at once
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == [
        "drive", f"--url={url}", "--rate-file=/etc/drive/rate", "--metrics-listen=:9102"
    ]  # fmt: skip
    assert container["env"] == [{"name": "RATE", "value": text}]
    # The in-cluster Prometheus scrapes the driver's request counters.
    assert deployment["spec"]["template"]["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9102",
    }
    assert container["ports"] == [{"name": "metrics", "containerPort": 9102, "protocol": "TCP"}]
    assert container["volumeMounts"] == [
        {"name": "drive", "mountPath": "/etc/drive", "readOnly": True}
    ]
    assert pod["volumes"] == [{"name": "drive", "configMap": {"name": "load"}}]


def test_the_yaml_stream_round_trips(documents: list[Document]) -> None:
    assert list(yaml.safe_load_all(to_yaml(documents))) == documents


def test_metrics_servers_kubelet_timeout_is_below_its_resolution() -> None:
    # metrics-server panics at start when the timeout is not below --metric-resolution.
    args = dict(a.removeprefix("--").split("=", 1) for a in metrics_server.arguments() if "=" in a)
    assert int(args["kubelet-request-timeout"].rstrip("s")) < int(
        args["metric-resolution"].rstrip("s")
    )
