"""``podpilot explain [NAME]``: Autoscalers' last decisions in words, read as kubectl reads."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

from podpilot.apimachinery.group import GROUP, VERSION
from podpilot.autoscaler.api.explanation import explain, summary_table
from podpilot.commands.conventions import (
    EXIT_FAILED,
    EXIT_NO_ANSWER,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    add_kubeconfig_arguments,
    add_output_arguments,
    as_list,
    connect_one_call_at_a_time,
    render,
    seconds_or_go_duration,
    write_output,
)

EXIT_NOT_READ = EXIT_FAILED
OUTPUT_FORMATS = ("text", "wide", "yaml", "json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from podpilot.kube.clients import READ_TIMEOUT

    parser.add_argument(
        "name",
        nargs="?",
        help="the Autoscaler's name (default: every Autoscaler in the namespace)",
    )
    parser.add_argument(
        "-n",
        "--namespace",
        default=None,
        help="the Autoscaler's namespace (default: the kubeconfig context's namespace, "
        "else 'default')",
    )
    parser.add_argument(
        "-A",
        "--all-namespaces",
        action="store_true",
        help="every Autoscaler in every namespace (no NAME)",
    )
    add_kubeconfig_arguments(parser)
    add_output_arguments(parser, OUTPUT_FORMATS, default="text")
    parser.add_argument(
        "--request-timeout",
        type=seconds_or_go_duration,
        default=READ_TIMEOUT,
        metavar="DURATION",
        help="how long to wait for the API server's answer, as kubectl takes it: 30s, 1m, or "
        f"a number of seconds (default {READ_TIMEOUT:g}s)",
    )


def run(args: argparse.Namespace) -> int:
    if args.all_namespaces and (args.name or args.namespace):
        raise CommandError("-A/--all-namespaces takes no NAME and no -n", EXIT_USAGE)
    if args.request_timeout <= 0:
        raise CommandError("--request-timeout must be above zero", EXIT_USAGE)
    namespace, autoscalers = _read(args)
    if args.name is None and not autoscalers:
        where = "any namespace" if args.all_namespaces else f"namespace {namespace}"
        raise CommandError(f"no Autoscaler found in {where}")
    write_output(_rendered(autoscalers, args), args.output_file)
    return EXIT_OK


def _rendered(autoscalers: Sequence[Mapping[str, Any]], args: argparse.Namespace) -> str:
    if args.output in ("yaml", "json"):
        shown = autoscalers[0] if args.name else as_list(autoscalers)
        return render(shown, args.output)
    if args.output == "wide":
        return summary_table(autoscalers, with_namespace=args.all_namespaces) + "\n"
    blocks = [
        (f"Namespace: {a.get('metadata', {}).get('namespace')}\n" if args.all_namespaces else "")
        + explain(a)
        for a in autoscalers
    ]
    return "\n\n".join(blocks) + "\n"


def _read(args: argparse.Namespace) -> tuple[str, list[Mapping[str, Any]]]:
    """The namespace read (``-n``, else the context's) and the named Autoscaler in it, or every
    one in it (or in the cluster)."""
    import kubernetes

    from podpilot.kube.clients import TRANSPORT_ERRORS, no_answer

    clients = connect_one_call_at_a_time(args)
    namespace = args.namespace or clients.pykube.config.namespace
    api = kubernetes.client.CustomObjectsApi(clients.kubernetes)
    reference = f"Autoscaler {namespace}/{args.name}" if args.name else "the Autoscalers"
    try:
        if args.name:
            found: object = api.get_namespaced_custom_object(
                GROUP, VERSION, namespace, "autoscalers", args.name
            )
            return namespace, [_checked(found, reference)]
        if args.all_namespaces:
            listed: object = api.list_cluster_custom_object(GROUP, VERSION, "autoscalers")
        else:
            listed = api.list_namespaced_custom_object(GROUP, VERSION, namespace, "autoscalers")
        items = _checked(listed, reference).get("items") or []
        return namespace, [_checked(item, reference) for item in items]
    except kubernetes.client.ApiException as error:
        if not error.status:  # no HTTP answer (a TLS failure): the client reports status 0
            message = f"the API server at {clients.server}: {error.reason}"
            raise CommandError(message, EXIT_NO_ANSWER) from None
        raise CommandError(f"cannot read {reference}: {error.reason}", EXIT_NOT_READ) from None
    except TRANSPORT_ERRORS as error:
        message = no_answer(error, clients.server, clients.timeouts)
        raise CommandError(message, EXIT_NO_ANSWER) from None
    finally:
        clients.close()


def _checked(answer: object, reference: str) -> Mapping[str, Any]:
    if not isinstance(answer, Mapping):
        raise CommandError(f"unexpected answer for {reference}", EXIT_NOT_READ)
    return answer
