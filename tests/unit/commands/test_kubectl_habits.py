"""The CLI behaves as kubectl users expect: merged kubeconfigs, ``--context``, ``-n`` from the
context, ``-A``, ``-o`` formats, ``--version``, and one line with a documented exit status for
every failure a user can cause or meet."""

from __future__ import annotations

import argparse
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.local_http import serving

from podpilot.apimachinery.group import GROUP, VERSION
from podpilot.cli import build_parser, main
from podpilot.commands import convert
from podpilot.commands.conventions import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NO_ANSWER,
    EXIT_USAGE,
    CommandError,
)
from podpilot.kube.kubeconfig import KubeconfigError, context_namespace, merged_kubeconfig
from podpilot.settings import KubeconfigSelection
from podpilot_dev import pki


def kubeconfig(
    path: Path,
    contexts: dict[str, tuple[str, str | None]],
    current: str | None,
    certificate_authority: str | None = None,
) -> Path:
    """A kubeconfig with one cluster, user and context per name: (server, namespace)."""
    clusters = []
    for name, (server, _) in contexts.items():
        cluster: dict[str, Any] = {"server": server}
        if certificate_authority is not None:
            cluster["certificate-authority"] = certificate_authority
        clusters.append({"name": name, "cluster": cluster})
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": clusters,
        "users": [{"name": name, "user": {"token": f"token-{name}"}} for name in contexts],
        "contexts": [
            {
                "name": name,
                "context": {"cluster": name, "user": name}
                | ({"namespace": namespace} if namespace else {}),
            }
            for name, (_, namespace) in contexts.items()
        ],
    }
    if current is not None:
        document["current-context"] = current
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def autoscaler(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Autoscaler",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"maxReplicas": 5, "mode": "Active"},
        "status": {
            "reference": "Deployment/web",
            "desiredReplicas": 3,
            "lastDecision": {
                "evaluatedAt": "2026-12-02T10:00:00Z",
                "currentReplicas": 2,
                "action": "Scaled",
                "actionMessage": "2 -> 3",
            },
        },
    }


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: connecting is refused at once."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port: int = listener.getsockname()[1]
    return port


# --- kubeconfig merging -------------------------------------------------------------------------


def test_several_files_merge_as_kubectl_merges_them(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    first = kubeconfig(
        tmp_path / "one" / "config",
        {"a": ("https://a.example", "team-a")},
        current="a",
        certificate_authority="ca.crt",
    )
    second = kubeconfig(
        tmp_path / "config-b",
        {"a": ("https://shadowed.example", None), "b": ("https://b.example", "team-b")},
        current="b",
    )

    document = merged_kubeconfig(KubeconfigSelection(paths=f"{first}:{second}"))

    # The first file to name a context, or to set current-context, wins.
    assert document["current-context"] == "a"
    assert [context["name"] for context in document["contexts"]] == ["a", "b"]
    servers = {c["name"]: c["cluster"]["server"] for c in document["clusters"]}
    assert servers == {"a": "https://a.example", "b": "https://b.example"}
    # A relative file is relative to the kubeconfig that names it.
    (cluster_a,) = (c["cluster"] for c in document["clusters"] if c["name"] == "a")
    assert cluster_a["certificate-authority"] == str(tmp_path / "one" / "ca.crt")
    assert context_namespace(document) == "team-a"


def test_context_chooses_among_the_merged_contexts(tmp_path: Path) -> None:
    first = kubeconfig(tmp_path / "a", {"a": ("https://a.example", None)}, current="a")
    second = kubeconfig(tmp_path / "b", {"b": ("https://b.example", "team-b")}, current=None)
    selection = KubeconfigSelection(paths=f"{first}:{second}", context="b")

    document = merged_kubeconfig(selection)

    assert document["current-context"] == "b"
    assert context_namespace(document) == "team-b"


def test_kubeconfig_env_is_searched_as_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    present = kubeconfig(tmp_path / "a", {"a": ("https://a.example", None)}, current="a")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{present}")

    document = merged_kubeconfig(KubeconfigSelection())

    assert document["current-context"] == "a"
    assert context_namespace(document) == "default"


def test_an_unknown_context_names_the_known_ones(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "a", {"a": ("https://a.example", None)}, current="a")

    with pytest.raises(KubeconfigError, match=r"context 'nope' is not in .* \(contexts: a\)"):
        merged_kubeconfig(KubeconfigSelection(paths=str(path), context="nope"))


def test_no_file_at_all_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="no kubeconfig file found at"):
        merged_kubeconfig(KubeconfigSelection(paths=str(tmp_path / "missing")))


# --- explain ------------------------------------------------------------------------------------


def test_explain_reads_the_contexts_namespace_through_merged_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = f"/apis/{GROUP}/{VERSION}/namespaces/team-b/autoscalers/web"
    with serving({path: (200, json.dumps(autoscaler("team-b", "web")).encode())}) as url:
        first = kubeconfig(tmp_path / "a", {"a": ("http://127.0.0.1:1", None)}, current="a")
        second = kubeconfig(tmp_path / "b", {"b": (url, "team-b")}, current=None)
        argv = ["explain", "web", "--kubeconfig", f"{first}:{second}", "--context", "b"]

        assert main(argv) == 0
        text = capsys.readouterr().out
        assert main([*argv, "-o", "json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert main([*argv, "-o", "yaml"]) == 0
        shown_as_yaml = yaml.safe_load(capsys.readouterr().out)

    assert text.startswith("Autoscaler web -> Deployment/web (mode Active)")
    assert "Result: Scaled: 2 -> 3" in text
    assert shown == shown_as_yaml == autoscaler("team-b", "web")


def test_explain_all_namespaces_lists_as_kubectl_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = [autoscaler("team-a", "web"), autoscaler("team-b", "api-server")]
    listing = {"kind": "AutoscalerList", "items": items}
    answers = {f"/apis/{GROUP}/{VERSION}/autoscalers": (200, json.dumps(listing).encode())}
    with serving(answers) as url:
        path = kubeconfig(tmp_path / "config", {"c": (url, None)}, current="c")
        assert main(["explain", "-A", "--kubeconfig", str(path), "-o", "wide"]) == 0
        table = capsys.readouterr().out.splitlines()
        assert main(["explain", "-A", "--kubeconfig", str(path), "-o", "json"]) == 0
        shown = json.loads(capsys.readouterr().out)

    assert table[0].split() == [
        "NAMESPACE", "NAME", "REFERENCE", "MODE", "REPLICAS", "DESIRED", "RESULT", "EVALUATED"
    ]  # fmt: skip
    assert table[2].split() == [
        "team-b", "api-server", "Deployment/web", "Active", "2", "3", "Scaled",
        "2026-12-02T10:00:00Z",
    ]  # fmt: skip
    assert table[1].index("web") == table[2].index("api-server")  # aligned columns
    assert (shown["kind"], shown["items"]) == ("List", items)


def test_explain_all_namespaces_refuses_a_name_in_kubectls_words(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explain", "web", "-A"]) == EXIT_USAGE
    assert capsys.readouterr().err.splitlines() == [
        "podpilot explain: error: a resource cannot be retrieved by name across all namespaces"
    ]


def test_explain_all_namespaces_wins_over_a_namespace_as_in_kubectl(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = {"kind": "AutoscalerList", "items": [autoscaler("team-a", "web")]}
    answers = {f"/apis/{GROUP}/{VERSION}/autoscalers": (200, json.dumps(listing).encode())}
    with serving(answers) as url:
        path = kubeconfig(tmp_path / "config", {"c": (url, None)}, current="c")
        argv = ["explain", "-A", "-n", "shop", "--kubeconfig", str(path), "-o", "name"]
        assert main(argv) == 0

    assert capsys.readouterr().out == "autoscaler.podpilot.io/web\n"


def test_an_unreachable_server_is_one_line_and_exit_status_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    path = kubeconfig(tmp_path / "config", {"c": (url, None)}, current="c")
    argv = ["explain", "web", "--kubeconfig", str(path), "--request-timeout", "1s"]

    started = time.monotonic()
    code = main(argv)
    seconds = time.monotonic() - started

    captured = capsys.readouterr()
    assert code == EXIT_NO_ANSWER
    (line,) = captured.err.splitlines()
    assert line == (
        f"podpilot explain: error: the API server at {url} could not be reached: connection refused"
    )
    assert "Traceback" not in captured.err
    assert captured.out == ""
    assert seconds < 5


def test_an_unknown_context_is_one_line_and_exit_status_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = kubeconfig(tmp_path / "config", {"c": ("http://127.0.0.1:1", None)}, current="c")

    assert main(["explain", "web", "--kubeconfig", str(path), "--context", "x"]) == EXIT_FAILED

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("podpilot explain: error: cannot load the API credentials: context")


def test_a_kubeconfig_named_by_a_relative_path_finds_its_relative_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    kubeconfig(tmp_path / "sub" / "config", {"c": ("https://c.example", None)}, "c", "ca.crt")
    monkeypatch.chdir(tmp_path)

    document = merged_kubeconfig(KubeconfigSelection(paths="sub/config"))

    (cluster,) = (entry["cluster"] for entry in document["clusters"])
    assert cluster["certificate-authority"] == str(tmp_path / "sub" / "ca.crt")


@pytest.mark.parametrize(
    "content",
    [b"[1, 2]\n", b"just a string\n", b"\xff\xfe\x00", b"clusters: [\n  - {name: a\n", None],
    ids=["a-list", "a-string", "not-utf-8", "broken-yaml", "bad-base64-ca"],
)
def test_a_malformed_kubeconfig_is_one_line_and_exit_status_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None
) -> None:
    path = tmp_path / "config"
    if content is None:
        kubeconfig(path, {"c": ("https://127.0.0.1:1", None)}, current="c")
        document = yaml.safe_load(path.read_text())
        document["clusters"][0]["cluster"]["certificate-authority-data"] = "not base64!"
        path.write_text(yaml.safe_dump(document))
    else:
        path.write_bytes(content)

    assert main(["explain", "web", "--kubeconfig", str(path)]) == EXIT_FAILED

    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith("podpilot explain: error: cannot load the API credentials: ")
    assert captured.out == ""


# --- the entry point ----------------------------------------------------------------------------


def test_version_is_printed_as_kubectl_prints_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("podpilot ")


def test_a_command_error_becomes_its_line_and_exit_status(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(_: object) -> int:
        raise CommandError("it went wrong", EXIT_NO_ANSWER)

    monkeypatch.setattr(convert, "run", failing)

    assert main(["convert"]) == EXIT_NO_ANSWER
    assert capsys.readouterr().err == "podpilot convert: error: it went wrong\n"


def test_ctrl_c_is_one_line_and_exit_status_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(_: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(convert, "run", interrupted)

    assert main(["convert"]) == EXIT_INTERRUPTED == 130
    assert capsys.readouterr().err == "podpilot convert: interrupted\n"


@pytest.mark.parametrize("command", ["run", "convert", "explain"])
def test_every_flag_has_help(command: str) -> None:
    parser = build_parser(only=command)
    (subcommands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    actions = subcommands.choices[command]._actions
    undocumented = [a.option_strings for a in actions if a.option_strings and not a.help]
    assert undocumented == []


def test_run_help_gives_durations_as_go_writes_them(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())

    assert "--horizontal-pod-autoscaler-downscale-stabilization DURATION" in text
    assert "(a Go duration); an Autoscaler's" in text
    assert "overrides it (default: 5m0s)" in text
    assert "--horizontal-pod-autoscaler-initial-readiness-delay DURATION" in text
    assert "(default: 30s)" in text
    assert "--metrics-port N port of the /metrics endpoint (default: 9808)" in text


def test_the_operators_kopf_login_uses_the_chosen_files_and_context(tmp_path: Path) -> None:
    import asyncio
    import logging

    import kopf

    from podpilot.app.lifecycle import login
    from podpilot.app.runtime import Runtime
    from podpilot.settings import OperatorSettings

    first = kubeconfig(tmp_path / "a", {"a": ("https://a.example:6443", None)}, current="a")
    second = kubeconfig(tmp_path / "b", {"b": ("https://b.example:6443", "team-b")}, None)
    selection = KubeconfigSelection(paths=f"{first}:{second}", context="b")
    memo = kopf.Memo(runtime=Runtime(OperatorSettings(kubeconfig=selection)))

    async def logged_in() -> tuple[str, str | None, str | None]:
        context = await login(
            settings=kopf.OperatorSettings(), logger=logging.getLogger("t"), memo=memo
        )
        assert isinstance(context, kopf.AiohttpSession)
        async with context.aiohttp_session as session:
            return context.server, context.default_namespace, session.headers["Authorization"]

    assert asyncio.run(logged_in()) == ("https://b.example:6443", "team-b", "Bearer token-b")


@pytest.mark.parametrize(
    ("argv", "prog"),
    [
        (["convert", "--bogus"], "podpilot convert"),
        (["--bogus", "convert"], "podpilot"),
        (["--bogus"], "podpilot"),
    ],
    ids=["after-the-subcommand", "before-it", "without-one"],
)
def test_an_unknown_flag_is_one_line_naming_the_command_it_was_given_to(
    argv: list[str], prog: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == EXIT_USAGE
    assert capsys.readouterr().err.splitlines() == [
        f"{prog}: error: unrecognized arguments: --bogus (see '{prog} --help')"
    ]


def test_a_cluster_without_a_server_is_named_as_kubectl_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = kubeconfig(tmp_path / "config", {"c": ("https://127.0.0.1:1", None)}, current="c")
    document = yaml.safe_load(path.read_text())
    del document["clusters"][0]["cluster"]["server"]
    path.write_text(yaml.safe_dump(document))

    assert main(["explain", "web", "--kubeconfig", str(path)]) == EXIT_FAILED

    (line,) = capsys.readouterr().err.splitlines()
    cluster = document["clusters"][0]["name"]
    assert line == (
        "podpilot explain: error: cannot load the API credentials: invalid configuration: "
        f'no server found for cluster "{cluster}"'
    )


def test_an_empty_file_in_the_path_is_passed_over_as_kubectl_passes_it(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    config = kubeconfig(tmp_path / "config", {"b": ("https://b.example", "team-b")}, current="b")

    document = merged_kubeconfig(KubeconfigSelection(paths=f"{empty}:{config}"))

    assert document["current-context"] == "b"
    assert context_namespace(document) == "team-b"


def test_insecure_skip_tls_verify_is_taken_without_a_warning_as_kubectl_takes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    authority = pki.create(tmp_path / "pki")
    path = kubeconfig(tmp_path / "config", {"c": ("https://127.0.0.1:1", "ns")}, current="c")
    with serving({}, tls=(authority.cert("serving"), authority.key("serving"))) as url:
        document = yaml.safe_load(path.read_text())
        document["clusters"][0]["cluster"] = {"server": url, "insecure-skip-tls-verify": True}
        path.write_text(yaml.safe_dump(document))

        assert main(["explain", "web", "--kubeconfig", str(path)]) == EXIT_FAILED

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("podpilot explain: error: Error from server (NotFound)")
