"""A client identity per operator replica, and the audit log added to a running apiserver
(podpilot_dev.cluster.client_kubeconfig, ensure_audit_log), with real certificates and a real
child process standing in for kube-apiserver."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from podpilot_dev import cluster, pki, processes


@pytest.fixture
def state(tmp_path: Path) -> Iterator[cluster.ClusterState]:
    state = cluster.ClusterState(tmp_path, ports={"kube-apiserver": 6443})
    pki.create(state.directory / "pki")
    state.processes["kube-apiserver"] = processes.start(
        "kube-apiserver",
        [sys.executable, "-c", "import time; time.sleep(60)", "--secure-port=6443"],
        state.log_dir,
    )
    state.save()
    yield state
    processes.stop(state.processes["kube-apiserver"], grace=2)


def test_each_identity_has_its_own_certificate_authorized_like_the_admin(
    state: cluster.ClusterState,
) -> None:
    direct = cluster.client_kubeconfig(state, "podpilot-replica-a")
    relayed = cluster.client_kubeconfig(state, "podpilot-replica-a", "https://127.0.0.1:40001")
    other = cluster.client_kubeconfig(state, "podpilot-replica-b")
    assert len({direct, relayed, other}) == 3

    config = yaml.safe_load(relayed.read_text())
    assert config["current-context"] == "podpilot-dev"
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:40001"
    direct_server = yaml.safe_load(direct.read_text())["clusters"][0]["cluster"]["server"]
    assert direct_server == "https://127.0.0.1:6443"
    user = config["users"][0]
    assert user["name"] == "podpilot-replica-a"
    certificate = x509.load_pem_x509_certificate(
        Path(user["user"]["client-certificate"]).read_bytes()
    )
    subject = certificate.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "podpilot-replica-a"
    organizations = [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert organizations == [pki.ADMIN_GROUP]
    # The same identity keeps its certificate, whatever server its kubeconfig names.
    assert yaml.safe_load(direct.read_text())["users"] == config["users"]


def test_an_apiserver_without_the_audit_log_or_its_policy_is_relaunched_once_with_them(
    state: cluster.ClusterState,
) -> None:
    first = state.processes["kube-apiserver"]
    cluster.ensure_audit_log(state, report=lambda _: None)
    second = state.processes["kube-apiserver"]
    assert not processes.is_alive(first) and processes.is_alive(second)
    assert second.command[: len(first.command)] == first.command
    assert f"--audit-log-path={state.audit_log}" in second.command
    assert f"--audit-policy-file={state.audit_policy}" in second.command
    assert yaml.safe_load(state.audit_policy.read_text())["kind"] == "Policy"
    saved = cluster.ClusterState.load(state.directory)
    assert saved is not None and saved.processes["kube-apiserver"] == second

    cluster.ensure_audit_log(state, report=lambda _: None)
    assert state.processes["kube-apiserver"] == second  # already writing it: left alone

    state.audit_policy.write_text("an older policy")
    cluster.ensure_audit_log(state, report=lambda _: None)
    third = state.processes["kube-apiserver"]
    assert not processes.is_alive(second) and processes.is_alive(third)
    assert third.command == second.command  # the same flags, the policy file written anew
    assert yaml.safe_load(state.audit_policy.read_text())["kind"] == "Policy"
