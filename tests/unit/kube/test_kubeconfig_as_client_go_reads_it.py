"""The kubeconfig read as client-go reads it: a ``server`` without a scheme gets client-go's
scheme (TLS whenever the cluster has TLS settings, so a token never goes in the clear), a
relative exec plugin command is found beside its kubeconfig, and a kubeconfig comes before the
in-cluster credentials, whose namespace is the pod's."""

from __future__ import annotations

import json
import os
import pwd
import stat
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from tests.local_http import serving

from podpilot.kube.clients import (
    CredentialsError,
    ServiceAccount,
    connect,
    load_credentials,
)
from podpilot.kube.kubeconfig import KubeconfigError, merged_kubeconfig, server_url
from podpilot.settings import KubeconfigSelection
from podpilot_dev import pki

POD_SERVER = "https://10.96.0.1:443"


def write_kubeconfig(
    path: Path,
    cluster: dict[str, Any],
    user: dict[str, Any] | None = None,
    namespace: str | None = None,
) -> Path:
    """A kubeconfig at ``path`` with one context: ``cluster``, ``user`` (a token by default),
    ``namespace``."""
    context: dict[str, Any] = {"cluster": "c", "user": "u"}
    if namespace is not None:
        context["namespace"] = namespace
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user or {"token": "secret"}}],
        "contexts": [{"name": "c", "context": context}],
        "current-context": "c",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def merged_server(path: Path) -> str:
    document = merged_kubeconfig(KubeconfigSelection(paths=str(path)))
    (cluster,) = (entry["cluster"] for entry in document["clusters"])
    return str(cluster["server"])


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> pki.Pki:
    return pki.create(tmp_path_factory.mktemp("pki"))


# --- a server without a scheme ------------------------------------------------------------------


def test_a_server_without_a_scheme_gets_the_token_over_tls_when_the_cluster_has_a_ca(
    tmp_path: Path, certificates: pki.Pki
) -> None:
    (tmp_path / "ca.crt").write_bytes(certificates.ca_cert.read_bytes())
    seen: list[str | None] = []
    tls = (certificates.cert("serving"), certificates.key("serving"))
    answers = {"/api/v1/namespaces/default": (200, b'{"kind":"Namespace","metadata":{}}')}
    with serving(answers, seen=seen, tls=tls) as url:
        host_and_port = url.removeprefix("https://")
        cluster = {"server": host_and_port, "certificate-authority": "ca.crt"}
        clients = connect(str(write_kubeconfig(tmp_path / "config", cluster)))
        try:
            kubernetes.client.CoreV1Api(clients.kubernetes).read_namespace("default")
            assert clients.pykube.get(url="namespaces/default").ok
        finally:
            clients.close()

    assert clients.server == url == clients.pykube.config.cluster["server"]
    assert seen == ["Bearer secret"] * 2  # both requests reached the server over TLS


@pytest.mark.parametrize(
    ("cluster", "user"),
    [
        ({"certificate-authority-data": "Y2E="}, None),
        ({"insecure-skip-tls-verify": True}, None),
        ({}, {"client-certificate": "client.crt", "client-key": "client.key"}),
        ({}, {"client-certificate-data": "Y2VydA==", "client-key-data": "a2V5"}),
    ],
    ids=["ca-data", "insecure-skip-tls-verify", "client-certificate", "client-certificate-data"],
)
def test_any_tls_setting_makes_a_bare_host_port_https(
    tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any] | None
) -> None:
    path = write_kubeconfig(tmp_path / "config", {"server": "127.0.0.1:16445", **cluster}, user)
    assert merged_server(path) == "https://127.0.0.1:16445"


def test_a_bare_host_port_without_tls_settings_is_plain_http(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "config", {"server": "127.0.0.1:16445"})
    assert merged_server(path) == "http://127.0.0.1:16445"


@pytest.mark.parametrize(
    ("server", "over_tls", "url"),
    [
        ("localhost:6443", True, "https://localhost:6443"),
        ("api.example", True, "https://api.example"),
        ("[::1]:6443", False, "http://[::1]:6443"),
        ("http://127.0.0.1:8080", True, "http://127.0.0.1:8080"),  # a scheme given is kept
        (
            "https://rancher.example/k8s/clusters/c-1",
            False,
            "https://rancher.example/k8s/clusters/c-1",
        ),
    ],
)
def test_a_server_is_made_a_url_as_client_go_makes_it(
    server: str, over_tls: bool, url: str
) -> None:
    assert server_url(server, over_tls) == url


@pytest.mark.parametrize("server", ["127.0.0.1:6443/prefix", "api.example:port", "[::1"])
def test_a_server_without_a_scheme_that_is_no_host_port_pair_is_refused(
    tmp_path: Path, server: str
) -> None:
    path = write_kubeconfig(
        tmp_path / "config", {"server": server, "insecure-skip-tls-verify": True}
    )
    expected = f'host must be a URL or a host:port pair: "{server}"'

    with pytest.raises(KubeconfigError) as refused:
        merged_kubeconfig(KubeconfigSelection(paths=str(path)))
    assert str(refused.value) == expected
    with pytest.raises(CredentialsError, match="cannot load the API credentials: host must be"):
        load_credentials(str(path), kubernetes.client.Configuration())


# --- a relative exec plugin command -------------------------------------------------------------


def exec_user(command: str) -> dict[str, Any]:
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": command}}


def exec_command(path: Path) -> str:
    document = merged_kubeconfig(KubeconfigSelection(paths=str(path)))
    (user,) = (entry["user"] for entry in document["users"])
    return str(user["exec"]["command"])


@pytest.mark.parametrize(
    ("command", "resolved"),
    [
        ("./plugin.sh", "{folder}/plugin.sh"),
        ("bin/plugin", "{folder}/bin/plugin"),
        ("/usr/local/bin/plugin", "/usr/local/bin/plugin"),
        ("aws", "aws"),  # a bare name is looked up on $PATH
    ],
)
def test_an_exec_command_with_a_path_is_relative_to_its_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, resolved: str
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_kubeconfig(
        tmp_path / "kube" / "config", {"server": "https://c"}, exec_user(command)
    )
    assert exec_command(Path("kube/config")) == resolved.format(folder=path.parent)


def test_a_relative_exec_plugin_runs_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": "from-the-plugin"},
    }
    plugin = tmp_path / "kube" / "plugin.sh"
    plugin.parent.mkdir()
    plugin.write_text(f"#!/bin/sh\necho '{json.dumps(credential)}'\n", encoding="utf-8")
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    path = write_kubeconfig(
        plugin.parent / "config", {"server": "https://c"}, exec_user("./plugin.sh")
    )
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")

    _, token = load_credentials(str(path), kubernetes.client.Configuration())

    assert token is not None
    assert token.authorization() == "Bearer from-the-plugin"


# --- a kubeconfig before the in-cluster credentials ---------------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home without ``~/.kube/config``, and no ``$KUBECONFIG``."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    return home


def service_account(
    directory: Path, namespace_file: str | None = None, **environ: str
) -> ServiceAccount:
    """A ServiceAccount mounted in ``directory``, as kubelet mounts it, with the apiserver's
    Service (``POD_SERVER``) and ``environ`` in the environment."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "token").write_text("pod-token", encoding="utf-8")
    (directory / "ca.crt").write_text("a CA bundle", encoding="utf-8")
    if namespace_file is not None:
        (directory / "namespace").write_text(namespace_file, encoding="utf-8")
    service = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    return ServiceAccount(directory, {**service, **environ})


def loaded(selection: KubeconfigSelection, account: ServiceAccount) -> tuple[str, str]:
    """The server and the default namespace the clients would use."""
    configuration = kubernetes.client.Configuration()
    pykube_config, _ = load_credentials(selection, configuration, account)
    return str(configuration.host), str(pykube_config.namespace)


def test_in_a_pod_without_a_kubeconfig_the_service_account_is_used_in_the_pods_namespace(
    tmp_path: Path, home: Path
) -> None:
    account = service_account(tmp_path / "sa", namespace_file="shop\n")
    assert loaded(KubeconfigSelection(), account) == (POD_SERVER, "shop")


def test_the_pod_namespace_variable_comes_before_the_namespace_file(
    tmp_path: Path, home: Path
) -> None:
    account = service_account(tmp_path / "sa", namespace_file="shop", POD_NAMESPACE="team-a")
    assert loaded(KubeconfigSelection(), account) == (POD_SERVER, "team-a")


def test_in_a_pod_whose_user_has_no_home_the_service_account_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An arbitrary user ID (no passwd entry) and no $HOME: there is no ~/.kube/config."""
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)

    def no_entry(uid: int) -> None:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    account = service_account(tmp_path / "sa", namespace_file="shop")
    assert loaded(KubeconfigSelection(), account) == (POD_SERVER, "shop")


def test_without_either_the_pod_namespace_is_default(tmp_path: Path, home: Path) -> None:
    account = service_account(tmp_path / "sa", namespace_file=" \n")
    assert loaded(KubeconfigSelection(), account) == (POD_SERVER, "default")


def test_a_kubeconfig_variable_naming_no_file_leaves_the_service_account(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    account = service_account(tmp_path / "sa", namespace_file="shop")
    assert loaded(KubeconfigSelection(), account) == (POD_SERVER, "shop")


def test_in_a_pod_the_kubeconfig_variable_comes_first(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_kubeconfig(tmp_path / "config", {"server": "https://a.example"}, namespace="ns-a")
    monkeypatch.setenv("KUBECONFIG", str(path))
    account = service_account(tmp_path / "sa", namespace_file="shop")
    assert loaded(KubeconfigSelection(), account) == ("https://a.example", "ns-a")


def test_in_a_pod_the_home_kubeconfig_comes_first_in_the_pods_namespace(
    tmp_path: Path, home: Path
) -> None:
    """A context without a namespace takes the pod's, as client-go gives it."""
    write_kubeconfig(home / ".kube" / "config", {"server": "https://a.example"})
    account = service_account(tmp_path / "sa", namespace_file="shop")
    assert loaded(KubeconfigSelection(), account) == ("https://a.example", "shop")


def test_a_kubeconfig_asked_for_is_never_replaced_by_the_service_account(
    tmp_path: Path, home: Path
) -> None:
    account = service_account(tmp_path / "sa", namespace_file="shop")
    for selection in (
        KubeconfigSelection(paths=str(tmp_path / "missing")),
        KubeconfigSelection(context="elsewhere"),
    ):
        with pytest.raises(CredentialsError, match="no kubeconfig file found"):
            loaded(selection, account)


def test_without_a_service_port_there_are_no_in_cluster_credentials(
    tmp_path: Path, home: Path
) -> None:
    account = service_account(tmp_path / "sa", KUBERNETES_SERVICE_PORT="")
    assert not account.present()
    with pytest.raises(CredentialsError, match="no kubeconfig file found"):
        loaded(KubeconfigSelection(), account)


def test_the_default_service_account_is_found_where_the_code_says(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``podpilot run`` in the chart's pods: no flag, no $KUBECONFIG, the ServiceAccount at
    its mount point (faked here through the module's constant)."""
    from podpilot.commands.run import check_credentials
    from podpilot.kube import clients

    mounted = service_account(tmp_path / "sa", namespace_file="podpilot")
    monkeypatch.setattr(clients, "SERVICE_ACCOUNT_DIRECTORY", mounted.directory)
    for name, value in mounted.environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("POD_NAMESPACE", raising=False)

    check_credentials(KubeconfigSelection())
    assert loaded(KubeconfigSelection(), ServiceAccount()) == (POD_SERVER, "podpilot")
    assert os.fspath(ServiceAccount().token) == os.fspath(mounted.token)
