"""The chart's values for labels, scheduling, disruption, logs, network policy and the Helm
lifecycle (issue #20, point 7), rendered offline with `helm template`."""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.chart_render import CHART, PROMETHEUS_OPERATOR_APIS, VALUES, Helm, Render, of_kind

from podpilot.cli import build_parser
from podpilot.commands.run import settings_from

OPERATOR = "rel-podpilot"
AUDIT = "rel-podpilot-emptydir"
CLUSTER_SCOPED = {
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "ClusterKopfPeering",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
}
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def values_file(tmp_path: Path, values: dict[str, Any]) -> str:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def everything(tmp_path: Path, render: Render, **extra: Any) -> list[dict[str, Any]]:
    """Every object the chart can render: all controllers, two replicas, monitoring, secrets,
    the kubelet CA ConfigMap and the NetworkPolicies."""
    values = {
        "replicaCount": 2,
        "networkPolicy": {"enabled": True},
        "controllers": {
            "emptydir": {"kubelet": {"caBundle": PEM}},
            "autoscaler": {"secrets": [{"namespace": "monitoring", "names": ["token"]}]},
        },
        **extra,
    }
    return render(
        "-f",
        str(VALUES / "good" / "monitoring.yaml"),
        "-f",
        values_file(tmp_path, values),
        *PROMETHEUS_OPERATOR_APIS,
    )


def deployment(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == name]
    return found


def pod_spec(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    spec: dict[str, Any] = deployment(docs, name)["spec"]["template"]["spec"]
    return spec


# --- commonLabels ---------------------------------------------------------------------------


def test_common_labels_reach_every_object_and_pod_but_no_selector(
    render: Render, tmp_path: Path
) -> None:
    common = {"team": "platform", "example.com/cost-centre": "42"}
    docs = everything(tmp_path, render, commonLabels=common)
    kinds = {doc["kind"] for doc in docs}
    assert {"NetworkPolicy", "PodDisruptionBudget", "ServiceMonitor", "PrometheusRule"} <= kinds
    for doc in docs:
        labels = doc["metadata"]["labels"]
        assert common.items() <= labels.items(), (doc["kind"], doc["metadata"]["name"])
    for name in (OPERATOR, AUDIT):
        found = deployment(docs, name)
        assert common.items() <= found["spec"]["template"]["metadata"]["labels"].items()
        # A selector cannot change after install: commonLabels must never reach it.
        assert not common.keys() & found["spec"]["selector"]["matchLabels"].keys()
    for service in of_kind(docs, "Service"):
        assert not common.keys() & service["spec"]["selector"].keys()


def test_pod_labels_win_over_common_labels_and_the_selector_wins_over_both(
    render: Render, tmp_path: Path
) -> None:
    docs = render(
        "-f",
        values_file(
            tmp_path,
            {"commonLabels": {"tier": "common"}, "podLabels": {"tier": "pod"}},
        ),
    )
    for name in (OPERATOR, AUDIT):
        labels = deployment(docs, name)["spec"]["template"]["metadata"]["labels"]
        assert labels["tier"] == "pod"
        assert deployment(docs, name)["spec"]["selector"]["matchLabels"].items() <= labels.items()


# The labels the chart puts on every object beside the selector's, as the best charts do.
STANDARD_LABELS = (
    "helm.sh/chart",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
)


def test_pods_carry_the_standard_labels_and_selectors_stay_the_selector_labels(
    render: Render,
) -> None:
    docs = render()
    selectors = {
        OPERATOR: {"app.kubernetes.io/name": "podpilot", "app.kubernetes.io/instance": "rel"},
        AUDIT: {"app.kubernetes.io/name": "podpilot-emptydir", "app.kubernetes.io/instance": "rel"},
    }
    for name, selector in selectors.items():
        found = deployment(docs, name)
        labels = found["spec"]["template"]["metadata"]["labels"]
        standard = {key: found["metadata"]["labels"][key] for key in STANDARD_LABELS}
        assert standard.items() <= labels.items(), name
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/part-of"] == "podpilot"
        # Immutable: a new label in the selector would fail every upgrade.
        assert found["spec"]["selector"]["matchLabels"] == selector
        assert selector.items() <= labels.items()


def test_pod_labels_cannot_replace_the_selector_or_component(
    render: Render, tmp_path: Path
) -> None:
    theirs = {
        "app.kubernetes.io/name": "x",
        "app.kubernetes.io/instance": "x",
        "app.kubernetes.io/component": "x",
        "app.kubernetes.io/part-of": "platform",
        "tier": "pod",
    }
    docs = render("-f", values_file(tmp_path, {"podLabels": theirs}))
    for name, component in ((OPERATOR, "operator"), (AUDIT, "emptydir")):
        found = deployment(docs, name)
        labels = found["spec"]["template"]["metadata"]["labels"]
        assert found["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert labels["app.kubernetes.io/component"] == component
        assert labels["tier"] == "pod"
        assert labels["app.kubernetes.io/part-of"] == "platform"  # podLabels win over the rest
        assert labels["helm.sh/chart"] == found["metadata"]["labels"]["helm.sh/chart"]


def test_a_label_given_by_common_and_service_monitor_labels_is_written_once(
    render: Render, tmp_path: Path
) -> None:
    docs = everything(tmp_path, render, commonLabels={"release": "common"})
    (monitor,) = of_kind(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


# --- topologySpreadConstraints -------------------------------------------------------------


def test_topology_spread_constraints_select_each_deployments_own_pods(render: Render) -> None:
    zone = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone"}
    explicit = {"matchLabels": {"app": "other"}}
    docs = render(
        "--set-json",
        "topologySpreadConstraints="
        + json.dumps(
            [
                {**zone, "whenUnsatisfiable": "ScheduleAnyway"},
                {**zone, "whenUnsatisfiable": "DoNotSchedule", "labelSelector": explicit},
            ]
        ),
    )
    for name in (OPERATOR, AUDIT):
        own, given = pod_spec(docs, name)["topologySpreadConstraints"]
        selector = deployment(docs, name)["spec"]["selector"]
        assert own == {**zone, "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": selector}
        assert given["labelSelector"] == explicit
    assert "topologySpreadConstraints" not in pod_spec(render(), OPERATOR)


# --- podDisruptionBudget.unhealthyPodEvictionPolicy ---------------------------------------


def test_unhealthy_pod_eviction_policy_is_passed_through_only_when_set(render: Render) -> None:
    ha = str(VALUES / "good" / "ha.yaml")
    chosen = render("-f", ha, "--set=podDisruptionBudget.unhealthyPodEvictionPolicy=AlwaysAllow")
    pdbs = of_kind(chosen, "PodDisruptionBudget")
    assert len(pdbs) == 2
    assert {pdb["spec"]["unhealthyPodEvictionPolicy"] for pdb in pdbs} == {"AlwaysAllow"}
    for pdb in of_kind(render("-f", ha), "PodDisruptionBudget"):
        assert "unhealthyPodEvictionPolicy" not in pdb["spec"]


# --- logFormat ------------------------------------------------------------------------------


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_log_format_reaches_podpilot_run(render: Render, log_format: str) -> None:
    docs = render(f"--set=logFormat={log_format}")
    for name in (OPERATOR, AUDIT):
        (main,) = pod_spec(docs, name)["containers"]
        assert build_parser(only="run").parse_args(main["args"]).log_format == log_format


def test_log_format_defaults_to_text(render: Render) -> None:
    (main,) = pod_spec(render(), OPERATOR)["containers"]
    assert "--log-format=text" in main["args"]


# --- apiTimeout -----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), [(None, 30.0), (7.5, 7.5), (120, 120.0)])
def test_api_timeout_reaches_podpilot_run_in_every_deployment(
    render: Render, tmp_path: Path, value: float | None, seconds: float
) -> None:
    docs = render("-f", values_file(tmp_path, {} if value is None else {"apiTimeout": value}))
    for name in (OPERATOR, AUDIT):
        (main,) = pod_spec(docs, name)["containers"]
        assert f"--api-timeout={seconds:g}" in main["args"]
        args = build_parser(only="run").parse_args(main["args"])
        assert settings_from(args).api_timeout == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "exclusiveMinimum"),
        (-5, "exclusiveMinimum"),
        (301, "maximum"),
        ("30s", "got string, want number"),
    ],
    ids=str,
)
def test_the_schema_refuses_an_api_timeout_that_is_not_a_positive_number_of_seconds(
    helm: Helm, tmp_path: Path, value: object, message: str
) -> None:
    result = helm(
        "template", "rel", str(CHART), "-f", values_file(tmp_path, {"apiTimeout": value}),
        check=False,
    )  # fmt: skip
    assert result.returncode != 0, f"apiTimeout: {value!r} was accepted"
    assert f"at '/apiTimeout': {message}" in result.stderr, result.stderr


# --- extraArgs: flags the chart sets from values ---------------------------------------------


def value_flags() -> dict[str, dict[str, str]]:
    """podpilot.valueFlags in _helpers.tpl: flag -> {abbreviation, contradicts}."""
    text = (CHART / "templates" / "_helpers.tpl").read_text()
    start = text.index('{{- define "podpilot.valueFlags" -}}\n')
    body = text[start:].split("\n", 1)[1]
    table: dict[str, dict[str, str]] = yaml.safe_load(body[: body.index("{{- end }}")])
    return table


VALUE_FLAGS = value_flags()
# A value `podpilot run` accepts for each refused flag that takes one.
SAMPLE_VALUES = {
    "--controllers": "flannel",
    "--metrics-port": "9000",
    "--health-port": "9001",
    "--peering-name": "other",
    "--peering-lifetime": "30",
    "--leader-election-namespace": "elsewhere",
    "--leader-election-lease-name": "other",
    "--leader-election-lease-duration": "20",
    "--leader-election-renew-deadline": "12",
    "--leader-election-retry-period": "3",
    "--shards": "3",
}
# Flags the chart writes from values and extraArgs may still carry: the chart renders nothing
# else from these values, so a later flag only retunes the process (docs/cli.md shows
# `extraArgs: [--log-format=json]`), and the repeatable ones add to the chart's.
PASSED_ON = {
    "--log-format",
    "--api-timeout",
    "--prometheus-max-response-bytes",
    "--prometheus-max-series",
    "--prometheus-max-query-seconds",
    "--prometheus-per-server-concurrency",
    "--prometheus-per-namespace-concurrency",
    "--prometheus-allowed-url",  # repeatable
    "--flannel-configmap-namespace",  # repeatable
    "--kubelet-certificate-authority",
    "--kubelet-insecure-tls",
}


def run_options() -> list[str]:
    parser = build_parser(only="run")
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    run = subparsers.choices["run"]
    assert not run.allow_abbrev  # podpilot run refuses abbreviations too, but only as it starts
    return [option for action in run._actions for option in action.option_strings]


def resolved(name: str, options: list[str]) -> str | None:
    """The option argparse reads ``name`` (a long flag, before any =) as: itself, else the one
    option it abbreviates; None when it is ambiguous or no option."""
    if name in options:
        return name
    matches = [option for option in options if option.startswith(name)]
    return matches[0] if len(matches) == 1 else None


def parsed(*args: str) -> dict[str, Any] | None:
    """`podpilot run`'s parsed arguments, or None when argparse refuses them."""
    try:
        return vars(build_parser(only="run").parse_args(["run", *args]))
    except SystemExit:
        return None


def with_value(flag: str, spelling: str) -> str:
    return f"{spelling}={SAMPLE_VALUES[flag]}" if flag in SAMPLE_VALUES else spelling


@pytest.mark.parametrize("flag", VALUE_FLAGS)
def test_each_refused_abbreviation_is_the_shortest_prefix_of_the_flag_alone(flag: str) -> None:
    """From the chart's abbreviation to the whole flag every prefix is that flag's alone among
    `podpilot run`'s flags, and the one shorter is not (ambiguous, or another flag): so the
    chart refuses each spelling that can only mean the flag and nothing else. A flag added to
    or removed from `podpilot run` that moves an abbreviation fails here."""
    options = run_options()
    abbreviation = VALUE_FLAGS[flag]["abbreviation"]
    assert flag in options and flag.startswith(abbreviation)
    for end in range(len(abbreviation), len(flag) + 1):
        assert resolved(flag[:end], options) == flag, flag[:end]
    assert resolved(abbreviation[:-1], options) != flag
    # `podpilot run` takes the flag only whole, as kubectl does: an abbreviation would stop
    # the pod as it starts (exit 2), where the chart already fails the render.
    assert parsed(with_value(flag, flag)) is not None
    for spelling in {abbreviation, flag[:-1]} - {flag}:
        assert parsed(with_value(flag, spelling)) is None, spelling


def written_flags(docs: list[dict[str, Any]]) -> set[str]:
    return {
        arg.split("=", 1)[0]
        for found in of_kind(docs, "Deployment")
        for arg in pod_spec(docs, found["metadata"]["name"])["containers"][0]["args"][1:]
    }


def test_every_flag_the_chart_writes_is_refused_in_extra_args_or_passed_on_by_design(
    render: Render, tmp_path: Path
) -> None:
    """A flag the chart comes to write from a new value must be sorted here: refused in
    extraArgs (podpilot.valueFlags), or listed as passed on."""
    written = written_flags(everything(tmp_path, render))
    written |= written_flags(
        render(
            "--set=leaderElection.sharding=true",
            "--set=replicaCount=2",
            "--set=peering.lifetime=30",
            "--set=controllers.emptydir.kubelet.insecureTLS=true",
            '--set-json=controllers.autoscaler.prometheus.allowedURLs=["prom"]',
        )
    )
    written |= written_flags(render("--set=leaderElection.enabled=false"))
    written |= written_flags(render("--set=peering.enabled=false"))
    assert written - VALUE_FLAGS.keys() == PASSED_ON
    # The chart decides --leader-election (the default) without writing it.
    assert VALUE_FLAGS.keys() - written == {"--leader-election"}


REFUSALS = {
    "standalone": (
        ["--standalone"],
        "extraArgs: --standalone contradicts peering.enabled; set peering.enabled=false instead",
    ),
    "no-leader-election": (
        ["--no-leader-election"],
        "extraArgs: --no-leader-election contradicts leaderElection.enabled; "
        "set leaderElection.enabled=false instead",
    ),
    "leader-election": (
        ["--leader-election"],
        "extraArgs: --leader-election contradicts leaderElection.enabled; "
        "set leaderElection.enabled=true (and peering.enabled=true) instead",
    ),
    "peering-name-separate": (
        ["--peering-name", "other"],
        "extraArgs: --peering-name contradicts peering.name; set peering.name instead",
    ),
    "peering-name-equals": (
        ["--peering-name=other"],
        "extraArgs: --peering-name=other contradicts peering.name; set peering.name instead",
    ),
    "peering-name-abbreviated": (
        ["--peering-n=other"],
        "extraArgs: --peering-n=other (--peering-name) contradicts peering.name; "
        "set peering.name instead",
    ),
    "lease-duration": (
        ["--leader-election-lease-duration=20"],
        "extraArgs: --leader-election-lease-duration=20 contradicts leaderElection.leaseDuration; "
        "set leaderElection.leaseDuration instead",
    ),
    "lease-namespace": (
        ["--leader-election-namespace=elsewhere"],
        "extraArgs: --leader-election-namespace=elsewhere contradicts the release namespace, where "
        "the chart puts the Lease and its Role; install the release in that namespace instead",
    ),
    "shards": (
        ["--shards=3"],
        "extraArgs: --shards=3 contradicts leaderElection.sharding; "
        "set leaderElection.sharding=true and leaderElection.shards instead",
    ),
    "controllers": (
        ["--controllers=flannel"],
        "extraArgs: --controllers=flannel contradicts controllers.<name>.enabled; set "
        "controllers.<name>.enabled (and controllers.emptydir.ownDeployment) instead",
    ),
    "metrics-port": (
        ["--metrics-port=9000"],
        "extraArgs: --metrics-port=9000 contradicts metrics.port; set metrics.port instead",
    ),
    "health-port-after-others": (
        ["--log-format=json", "--health-port", "9001"],
        "extraArgs: --health-port contradicts health.port; set health.port instead",
    ),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_extra_args_may_not_carry_a_flag_the_chart_sets_from_values(
    helm: Helm, tmp_path: Path, case: str
) -> None:
    """The chart renders the peering objects, the Lease and its Role, each controller's RBAC and
    the ports from values, then appends extraArgs: a flag there that argparse would read over
    the chart's own is refused in one line that names the value to set instead, whether the
    values agree or not, and with kopf's peering or the Lease alike."""
    extra_args, message = REFUSALS[case]
    for values in ({}, {"leaderElection": {"enabled": False}}):
        result = helm(
            "template", "rel", str(CHART), "-f", values_file(tmp_path, values),
            "--set-json", f"extraArgs={json.dumps(extra_args)}", check=False,
        )  # fmt: skip
        assert result.returncode != 0, f"{extra_args} was accepted"
        assert f"{message}\n" in result.stderr, result.stderr


@pytest.mark.parametrize("flag", VALUE_FLAGS)
def test_every_abbreviation_of_a_refused_flag_is_refused_and_named(helm: Helm, flag: str) -> None:
    spelling = with_value(flag, VALUE_FLAGS[flag]["abbreviation"])
    result = helm(
        "template", "rel", str(CHART), "--set-json", f"extraArgs={json.dumps([spelling])}",
        check=False,
    )  # fmt: skip
    assert result.returncode != 0, f"{spelling} was accepted"
    named = spelling if spelling.split("=")[0] == flag else f"{spelling} ({flag})"
    contradicts = VALUE_FLAGS[flag]["contradicts"]
    assert f"extraArgs: {named} contradicts {contradicts}\n" in result.stderr, result.stderr


def test_other_flags_and_values_that_look_like_refused_ones_are_passed_on(
    render: Render,
) -> None:
    """Flags the chart does not decide, the values the chart's own flags carry, and a prefix
    too short to be one refused flag (argparse finds it ambiguous) reach `podpilot run` as
    given."""
    extra_args = [
        "--log-format=json",
        "--priority=5",
        "--verbose",
        "--flannel-node-selector=--standalone",
        "--leader-election-lease",  # --leader-election-lease-name or -lease-duration?
        "--peering",
    ]
    docs = render("--set-json", f"extraArgs={json.dumps(extra_args)}")
    for name in (OPERATOR, AUDIT):
        (main,) = pod_spec(docs, name)["containers"]
        assert main["args"][-len(extra_args) :] == extra_args


# --- networkPolicy --------------------------------------------------------------------------


def test_no_network_policy_unless_enabled(render: Render) -> None:
    assert not of_kind(render(), "NetworkPolicy")


def test_network_policies_allow_metrics_and_health_in_and_the_api_server_out(
    render: Render, tmp_path: Path
) -> None:
    prometheus = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mon"}}}]
    values = {"networkPolicy": {"enabled": True, "metricsIngressFrom": prometheus}}
    docs = render("-f", values_file(tmp_path, values))
    policies = {p["metadata"]["name"]: p["spec"] for p in of_kind(docs, "NetworkPolicy")}
    assert policies.keys() == {OPERATOR, AUDIT}
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["networkPolicy"]
    for name, spec in policies.items():
        assert spec["podSelector"] == deployment(docs, name)["spec"]["selector"]
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        (ingress,) = spec["ingress"]
        assert ingress["from"] == prometheus
        (main,) = pod_spec(docs, name)["containers"]
        named = {port["name"] for port in main["ports"]}
        assert {port["port"] for port in ingress["ports"]} == named == {"metrics", "health"}
    assert policies[OPERATOR]["egress"] == defaults["egress"]
    assert policies[AUDIT]["egress"] == defaults["egress"] + defaults["emptydirEgress"]
    ports = {p["port"] for rule in defaults["egress"] for p in rule["ports"]}
    assert ports == {53, 443, 6443}


def test_network_policy_with_the_audit_inside_lets_the_operator_reach_kubelets(
    render: Render,
) -> None:
    docs = render(
        "--set=networkPolicy.enabled=true", "--set=controllers.emptydir.ownDeployment=false"
    )
    (policy,) = of_kind(docs, "NetworkPolicy")
    kubelet = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert 10250 in kubelet


def test_network_policy_ingress_from_anywhere_on_two_ports_when_no_peer_is_listed(
    render: Render,
) -> None:
    for policy in of_kind(render("--set=networkPolicy.enabled=true"), "NetworkPolicy"):
        (ingress,) = policy["spec"]["ingress"]
        assert "from" not in ingress and len(ingress["ports"]) == 2


def test_network_policy_with_egress_emptied_denies_all_egress(render: Render) -> None:
    docs = render(
        "--set=networkPolicy.enabled=true",
        "--set-json=networkPolicy.egress=[]",
        "--set-json=networkPolicy.emptydirEgress=[]",
    )
    assert all(p["spec"]["egress"] == [] for p in of_kind(docs, "NetworkPolicy"))


# --- the Helm lifecycle (issue #20, point 7) -------------------------------------------------


def test_every_namespaced_object_names_its_namespace(render: Render, tmp_path: Path) -> None:
    docs = everything(tmp_path, render)
    elsewhere = {("Role", "monitoring"), ("RoleBinding", "monitoring")}
    for doc in docs:
        namespace = doc["metadata"].get("namespace")
        if doc["kind"] in CLUSTER_SCOPED:
            assert namespace is None, doc["metadata"]["name"]
        else:
            assert namespace == "ops" or (doc["kind"], namespace) in elsewhere, doc["kind"]
    assert {"Secret", "ConfigMap"} & {doc["kind"] for doc in docs}


@pytest.mark.parametrize(
    ("flag", "kind"),
    [("serviceMonitor", "ServiceMonitor"), ("prometheusRule", "PrometheusRule")],
)
def test_monitoring_objects_render_only_where_prometheus_operator_serves_them(
    render: Render, flag: str, kind: str
) -> None:
    enable = f"--set=metrics.{flag}.enabled=true"
    assert not of_kind(render(enable), kind)
    served = f"--api-versions=monitoring.coreos.com/v1/{kind}"
    assert len(of_kind(render(enable, served), kind)) == 1


def notes(render: Render, tmp_path: Path, *args: str) -> str:
    """NOTES.txt as `helm install` would print it: `helm template` leaves NOTES out, and
    `helm install --dry-run=client` still asks a cluster for its version, so a copy of the
    chart renders the same text into an object."""
    chart = tmp_path / "notes-chart"
    shutil.copytree(CHART, chart)
    text = (CHART / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "zz-notes.yaml").write_text(
        '{{- define "probe.notes" }}' + text + "{{- end }}\n"
        'kind: Notes\nmetadata: {name: notes}\ntext: {{ include "probe.notes" . | quote }}\n'
    )
    (found,) = of_kind(render(*args, chart=chart), "Notes")
    return str(found["text"])


def test_notes_say_when_a_monitoring_object_was_left_out(render: Render, tmp_path: Path) -> None:
    enable = (
        "--set=metrics.serviceMonitor.enabled=true",
        "--set=metrics.prometheusRule.enabled=true",
    )
    left_out = notes(render, tmp_path, *enable)
    assert "no ServiceMonitor was" in left_out and "no PrometheusRule was" in left_out
    served = notes(render, tmp_path / "served", *enable, *PROMETHEUS_OPERATOR_APIS)
    assert "no ServiceMonitor was" not in served and "no PrometheusRule was" not in served


def test_notes_name_what_keeps_one_replica_active(render: Render, tmp_path: Path) -> None:
    """The Lease by default; kopf's peering only when kopf peers (no Lease); none standalone."""

    def replicas(case: str, *args: str) -> str:
        text = notes(render, tmp_path / case, *args)
        (line,) = [line for line in text.splitlines() if line.startswith("Replicas:")]
        return line

    assert 'Lease "rel-podpilot-leader"' in replicas("lease")
    assert 'kopf peering "rel-podpilot"' in replicas("kopf", "--set=leaderElection.enabled=false")
    namespaced = replicas(
        "kopf-namespaced",
        "--set=leaderElection.enabled=false",
        "--set-json",
        'extraArgs=["--namespace=team-a", "-n", "team-b"]',
    )
    assert 'kopf peering "rel-podpilot" in namespaces team-a, team-b' in namespaced
    assert replicas("standalone", "--set=peering.enabled=false") == "Replicas: 1"


NOTES_CASES = {
    "defaults": [],
    "audit-only": [
        "--set=controllers.autoscaler.enabled=false",
        "--set=controllers.flannel.enabled=false",
    ],
    "audit-only-kopf-peering": [
        "--set=controllers.autoscaler.enabled=false",
        "--set=controllers.flannel.enabled=false",
        "--set=leaderElection.enabled=false",
    ],
    "audit-inside": ["--set=controllers.emptydir.ownDeployment=false"],
    "kopf-peering": ["--set=leaderElection.enabled=false"],
}


@pytest.mark.parametrize("case", NOTES_CASES, ids=str)
def test_notes_name_each_metrics_service_and_each_deployments_lease_or_peering_object(
    render: Render, tmp_path: Path, case: str
) -> None:
    """NOTES lists exactly the metrics Services service.yaml renders, and for each Deployment
    the Lease its replicas elect on (or, with leader election off, its kopf peering object),
    by the names the Deployment's own `podpilot run` flags give; nothing the chart did not
    render (the audit alone has no `<fullname>-metrics` Service and no `<fullname>-leader`)."""
    args = NOTES_CASES[case]
    text = notes(render, tmp_path / "notes", *args)
    docs = render(*args)
    services = {doc["metadata"]["name"] for doc in of_kind(docs, "Service")}
    assert set(re.findall(r"http://([^./]+)\.ops\.svc:9808/metrics", text)) == services
    assert len(re.findall(r"http://", text)) == len(services)

    (line,) = [line for line in text.splitlines() if line.startswith("Replicas:")]
    named = set(re.findall(r'(Lease|kopf peering) "([^"]+)"[^,:]*? for deploy/([\w.-]+)', line))
    expected = set()
    for doc in of_kind(docs, "Deployment"):
        (container,) = doc["spec"]["template"]["spec"]["containers"]
        run = build_parser(only="run").parse_args(container["args"])
        assert not run.standalone
        if run.leader_election:
            expected.add(("Lease", run.leader_election_lease_name, doc["metadata"]["name"]))
        else:
            expected.add(("kopf peering", run.peering_name, doc["metadata"]["name"]))
    assert named == expected
    leases = {
        name
        for role in of_kind(docs, "Role")
        for rule in role["rules"]
        if rule["resources"] == ["leases"]
        for name in rule.get("resourceNames", [])
    }
    peerings = {doc["metadata"]["name"] for doc in of_kind(docs, "ClusterKopfPeering")}
    assert {name for kind, name, _ in expected} == (peerings or leases)


def test_notes_for_the_audit_alone_name_no_object_of_the_operator_deployment(
    render: Render, tmp_path: Path
) -> None:
    text = notes(render, tmp_path, *NOTES_CASES["audit-only"])
    assert "rel-podpilot-metrics." not in text and '"rel-podpilot-leader"' not in text
    assert "rel-podpilot-emptydir-metrics.ops.svc" in text
    assert 'Lease "rel-podpilot-leader-emptydir" for deploy/rel-podpilot-emptydir' in text
    defaults = notes(render, tmp_path / "defaults")
    assert "http://rel-podpilot-emptydir-metrics.ops.svc:9808/metrics" in defaults
    assert 'Lease "rel-podpilot-leader-emptydir" for deploy/rel-podpilot-emptydir' in defaults
    assert 'Lease "rel-podpilot-leader" for deploy/rel-podpilot,' in defaults


def test_notes_tell_what_the_network_policy_needs(render: Render, tmp_path: Path) -> None:
    text = notes(render, tmp_path, "--set=networkPolicy.enabled=true")
    assert "Allow your API server's address and port" in text
    assert "NetworkPolicy" not in notes(render, tmp_path / "off")


FOREIGN_CASES = {
    "absent": ({}, False),
    "applied-with-kubectl": ({"metadata": {"name": "x"}}, True),
    "kept-by-another-release": (
        {
            "metadata": {
                "annotations": {
                    "meta.helm.sh/release-name": "old",
                    "meta.helm.sh/release-namespace": "ops",
                }
            }
        },
        True,
    ),
    "same-name-other-namespace": (
        {
            "metadata": {
                "annotations": {
                    "meta.helm.sh/release-name": "rel",
                    "meta.helm.sh/release-namespace": "elsewhere",
                }
            }
        },
        True,
    ),
    "this-release": (
        {
            "metadata": {
                "annotations": {
                    "meta.helm.sh/release-name": "rel",
                    "meta.helm.sh/release-namespace": "ops",
                }
            }
        },
        False,
    ),
}


def test_a_crd_is_foreign_only_when_it_exists_and_is_not_this_releases(
    render: Render, tmp_path: Path
) -> None:
    """podpilot.foreignCrd decides which CRDs crds.skipUnowned leaves out; `lookup` answers
    nothing offline, so a probe template feeds it the objects a cluster would return."""
    chart = tmp_path / "podpilot"
    shutil.copytree(CHART, chart)
    (chart / "templates" / "zz-probe.yaml").write_text(
        "{{- range $case, $existing := .Values.probe }}\n"
        "---\n"
        "kind: Probe\n"
        "metadata: {name: {{ $case }}}\n"
        'foreign: {{ include "podpilot.foreignCrd" (dict "existing" $existing'
        ' "release" $.Release.Name "namespace" $.Release.Namespace) | quote }}\n'
        "{{- end }}\n"
    )
    schema = json.loads((chart / "values.schema.json").read_text())
    schema["properties"]["probe"] = {"type": "object"}
    (chart / "values.schema.json").write_text(json.dumps(schema))
    probe = {case: existing for case, (existing, _) in FOREIGN_CASES.items()}
    docs = render("-f", values_file(tmp_path, {"probe": probe}), chart=chart)
    found = {doc["metadata"]["name"]: doc["foreign"] == "true" for doc in of_kind(docs, "Probe")}
    assert found == {case: foreign for case, (_, foreign) in FOREIGN_CASES.items()}


def test_without_a_cluster_every_crd_is_rendered_and_skip_unowned_can_be_off(
    render: Render,
) -> None:
    kinds = (
        "CustomResourceDefinition",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    )
    on = [doc for kind in kinds for doc in of_kind(render(), kind)]
    off = [doc for kind in kinds for doc in of_kind(render("--set=crds.skipUnowned=false"), kind)]
    assert on == off and len(on) == len(list((CHART / "files" / "crds").glob("*.yaml")))


# --- values.schema.json ---------------------------------------------------------------------


def required_paths(node: Any, path: str = "") -> list[str]:
    """Where the schema has a `required` list, as dotted value paths ([] for array items)."""
    if not isinstance(node, dict):
        return []
    found = [path] if node.get("required") and path else []
    for key, child in node.get("properties", {}).items():
        found += required_paths(child, f"{path}.{key}".lstrip("."))
    if "items" in node:
        found += required_paths(node["items"], f"{path}[]")
    return found


def test_the_schema_requires_no_key_of_a_group_values_yaml_fills_in() -> None:
    """An override file (checked alone by an editor or CI) sets only what it changes: no
    `required` may flag a key values.yaml already gives. Required keys stay in list items,
    which a user writes whole, and in resources, where a request or a memory limit left out
    is a mistake the schema exists to catch."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert "required" not in schema
    outside_lists = [path for path in required_paths(schema) if "[]" not in path]
    assert sorted(outside_lists) == ["resources", "resources.limits", "resources.requests"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"commonLabels": {"app.kubernetes.io/name": "x"}},
            "/commonLabels/app.kubernetes.io~1name",
        ),
        ({"logFormat": "yaml"}, "logFormat"),
        ({"podDisruptionBudget": {"unhealthyPodEvictionPolicy": "Never"}}, "unhealthyPod"),
        ({"topologySpreadConstraints": [{"maxSkew": 1}]}, "topologySpreadConstraints"),
        ({"networkPolicy": {"enabled": "yes"}}, "networkPolicy"),
        ({"networkPolicy": {"metricsIngressFrom": [{"ipBlock": {}}]}}, "metricsIngressFrom"),
        ({"networkPolicy": {"egress": [{"port": 443}]}}, "egress"),
        ({"crds": {"skipUnowned": "true"}}, "skipUnowned"),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else "",
)
def test_new_values_are_typed_by_the_schema(
    helm: Helm, tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    result = helm("template", "rel", str(CHART), "-f", values_file(tmp_path, values), check=False)
    assert result.returncode != 0, f"{values} was accepted"
    assert message in result.stderr, result.stderr
