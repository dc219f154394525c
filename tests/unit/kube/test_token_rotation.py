"""Credentials follow a rotated token file. A real apiserver stand-in on 127.0.0.1 answers 401
unless the request carries the token that is in the file now; the file is replaced the way
kubelet replaces a projected ServiceAccount token (a new directory, symlinks swapped)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

import aiohttp
import kopf
import kubernetes
import pytest
import yaml
from tests.local_http import Answer, serving

from podpilot.app.lifecycle import current_token, login
from podpilot.kube.clients import (
    ApiClients,
    CredentialsError,
    ServiceAccount,
    TokenFile,
    connect,
)
from podpilot.kube.discovery import Discovery
from podpilot_dev import pki

GROUP = "external.metrics.k8s.io"
ANSWERS: dict[str, Answer] = {
    f"/apis/{GROUP}": (
        200,
        json.dumps({"versions": [{"version": "v1beta1"}]}).encode(),
    ),
    "/api/v1/namespaces/default": (
        200,
        json.dumps(
            {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "default"}}
        ).encode(),
    ),
}


class ProjectedToken:
    """A token in a directory written as kubelet's atomic writer does: ``token`` is a symlink
    into ``..data``, a symlink to a timestamped directory; a rotation writes a new directory
    and swaps ``..data`` in one rename."""

    def __init__(self, directory: Path, token: str) -> None:
        self.directory = directory
        self.generation = 0
        self.token = ""
        directory.mkdir(parents=True, exist_ok=True)
        self.rotate(token)
        (directory / "token").symlink_to("..data/token")

    def rotate(self, token: str) -> None:
        self.generation += 1
        payload = self.directory / f"..generation_{self.generation}"
        payload.mkdir()
        (payload / "token").write_text(token, encoding="utf-8")
        staged = self.directory / "..data_tmp"
        staged.symlink_to(payload.name)
        os.replace(staged, self.directory / "..data")
        self.token = token

    @property
    def path(self) -> Path:
        return self.directory / "token"

    def authorization(self) -> str:
        return f"Bearer {self.token}"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def discovered_versions(clients: ApiClients) -> list[str]:
    """One discovery read through pykube (a fresh cache, so every call reaches the server)."""

    async def read() -> list[str]:
        return await Discovery(clients).served_versions(GROUP)

    return asyncio.run(read())


def namespace_name(clients: ApiClients) -> str:
    """One typed read through the official client."""
    namespace = kubernetes.client.CoreV1Api(clients.kubernetes).read_namespace("default")
    return str(namespace.metadata.name)


def assert_reads_follow_rotation(
    clients: ApiClients, token: ProjectedToken, seen: list[str | None]
) -> None:
    assert discovered_versions(clients) == ["v1beta1"]
    assert namespace_name(clients) == "default"
    assert seen == ["Bearer first-token"] * 2

    token.rotate("second-token")  # the server now refuses the first token
    seen.clear()
    assert discovered_versions(clients) == ["v1beta1"]
    assert namespace_name(clients) == "default"
    assert seen == ["Bearer second-token"] * 2


# TokenFile on its own


def test_a_replaced_token_file_is_read_at_once(tmp_path: Path) -> None:
    token = ProjectedToken(tmp_path / "sa", "first-token")
    clock = Clock()
    reader = TokenFile(token.path, clock=clock)
    assert reader.current() == "first-token"
    token.rotate("second-token")
    assert reader.current() == "second-token"  # no time passed: the new inode is enough


def test_a_change_the_file_signature_misses_is_read_within_the_reread_period(
    tmp_path: Path,
) -> None:
    path = tmp_path / "token"
    path.write_text("token-aaaa\n", encoding="utf-8")
    clock = Clock()
    reader = TokenFile(path, reread_seconds=60.0, clock=clock)
    assert reader.current() == "token-aaaa"  # surrounding whitespace is not part of it
    before = path.stat()
    path.write_text("token-bbbb\n", encoding="utf-8")  # same inode, same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the same mtime
    clock.now += 59
    assert reader.current() == "token-aaaa"
    clock.now += 1
    assert reader.current() == "token-bbbb"


def test_an_unreadable_or_empty_file_keeps_the_last_token(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("kept", encoding="utf-8")
    reader = TokenFile(path, clock=Clock())
    path.unlink()
    assert reader.current() == "kept"
    path.write_text("", encoding="utf-8")
    assert reader.current() == "kept"
    path.write_text("new", encoding="utf-8")
    assert reader.current() == "new"


def test_a_missing_or_empty_token_file_at_start_is_a_credentials_error(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="cannot read"):
        TokenFile(tmp_path / "absent")
    (tmp_path / "empty").write_text(" \n", encoding="utf-8")
    with pytest.raises(CredentialsError, match="empty"):
        TokenFile(tmp_path / "empty")


# Both clients, from a kubeconfig with a tokenFile user and from the in-cluster credentials


def token_file_kubeconfig(path: Path, server: str, token_file: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "rotating",
        "clusters": [{"name": "rotating", "cluster": {"server": server}}],
        "users": [{"name": "rotating", "user": {"tokenFile": token_file}}],
        "contexts": [{"name": "rotating", "context": {"cluster": "rotating", "user": "rotating"}}],
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture
def token(tmp_path: Path) -> ProjectedToken:
    return ProjectedToken(tmp_path / "serviceaccount", "first-token")


def test_a_kubeconfig_token_file_is_followed_by_both_clients(
    tmp_path: Path, token: ProjectedToken
) -> None:
    seen: list[str | None] = []
    with serving(ANSWERS, authorization=token.authorization, seen=seen) as url:
        # A relative tokenFile is relative to the kubeconfig's directory, as kubectl reads it.
        kubeconfig = token_file_kubeconfig(tmp_path / "kubeconfig", url, "serviceaccount/token")
        clients = connect(str(kubeconfig), max_concurrent_calls=2)
        try:
            assert_reads_follow_rotation(clients, token, seen)
        finally:
            clients.close()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> pki.Pki:
    return pki.create(tmp_path_factory.mktemp("pki"))


def test_the_in_cluster_token_is_followed_by_both_clients(
    token: ProjectedToken, certificates: pki.Pki
) -> None:
    (token.directory / "ca.crt").write_bytes(certificates.ca_cert.read_bytes())
    seen: list[str | None] = []
    tls = (certificates.cert("serving"), certificates.key("serving"))
    with serving(ANSWERS, authorization=token.authorization, seen=seen, tls=tls) as url:
        port = url.rsplit(":", 1)[1]
        environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port}
        clients = connect(
            max_concurrent_calls=2, service_account=ServiceAccount(token.directory, environ)
        )
        try:
            assert clients.server == url
            assert_reads_follow_rotation(clients, token, seen)
        finally:
            clients.close()


def test_kopfs_session_sends_the_current_token(token: ProjectedToken) -> None:
    seen: list[str | None] = []

    async def status_of_one_read(session: aiohttp.ClientSession, url: str) -> int:
        async with session.get(f"{url}/apis/{GROUP}") as response:
            return response.status

    async def reads(url: str) -> list[int]:
        # The session's fixed header is the token of login time, as kopf's login builds it.
        async with aiohttp.ClientSession(
            headers={"Authorization": "Bearer first-token"},
            middlewares=(current_token(TokenFile(token.path)),),
            timeout=aiohttp.ClientTimeout(total=5),
        ) as session:
            statuses = [await status_of_one_read(session, url)]
            token.rotate("second-token")
            statuses.append(await status_of_one_read(session, url))
            return statuses

    with serving(ANSWERS, authorization=token.authorization, seen=seen) as url:
        assert asyncio.run(reads(url)) == [200, 200]
    assert seen == ["Bearer first-token", "Bearer second-token"]


def test_kopfs_login_builds_a_session_that_follows_the_token_file(
    tmp_path: Path, token: ProjectedToken, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator's real login handler, from a kubeconfig with a tokenFile user (kopf reads
    ``$KUBECONFIG`` through the kubernetes client, as the operator does outside a cluster)."""
    seen: list[str | None] = []

    async def statuses_across_a_rotation(url: str) -> list[int]:
        kubeconfig = token_file_kubeconfig(tmp_path / "kubeconfig", url, str(token.path))
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        # The kubernetes client read $KUBECONFIG when it was imported, before this test.
        monkeypatch.setattr(
            kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig)
        )
        context = await login(settings=kopf.OperatorSettings(), logger=logging.getLogger("t"))
        assert isinstance(context, kopf.AiohttpSession)
        async with context.aiohttp_session as session:
            statuses = []
            for rotation in ("second-token", None):
                async with session.get(f"{url}/apis/{GROUP}") as response:
                    statuses.append(response.status)
                if rotation is not None:
                    token.rotate(rotation)
            return statuses

    try:
        with serving(ANSWERS, authorization=token.authorization, seen=seen) as url:
            assert asyncio.run(statuses_across_a_rotation(url)) == [200, 200]
    finally:
        kubernetes.client.Configuration.set_default(None)  # kopf's login set the default
    assert seen == ["Bearer first-token", "Bearer second-token"]
