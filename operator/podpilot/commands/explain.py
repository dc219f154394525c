"""``podpilot explain [NAME]``: Autoscalers' last decisions in words, read as kubectl reads."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from podpilot.apimachinery.group import GROUP, VERSION
from podpilot.autoscaler.api.explanation import explain, summary_table
from podpilot.commands.api_errors import (
    answer_problem,
    api_failure,
    unexpected_answer,
    unreadable_answer_errors,
)
from podpilot.commands.conventions import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    add_kubeconfig_arguments,
    add_output_arguments,
    add_request_timeout_argument,
    as_list,
    connect_one_call_at_a_time,
    namespace_name,
    object_name,
    render,
    resource_name,
    write_output,
)

EXIT_NOT_READ = EXIT_FAILED
OUTPUT_FORMATS = ("text", "wide", "yaml", "json", "name")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name",
        nargs="?",
        type=resource_name,
        help="the Autoscaler's name (default: every Autoscaler in the namespace)",
    )
    parser.add_argument(
        "-n",
        "--namespace",
        default=None,
        type=namespace_name,
        help="the Autoscaler's namespace (default: the kubeconfig context's namespace, "
        "else the pod's in a cluster, else 'default')",
    )
    parser.add_argument(
        "-A",
        "--all-namespaces",
        action="store_true",
        help="every Autoscaler in every namespace (no NAME; -n is ignored)",
    )
    add_kubeconfig_arguments(parser)
    add_output_arguments(parser, OUTPUT_FORMATS, default="text")
    add_request_timeout_argument(
        parser, "how long to wait for the API server's answer, as kubectl takes it"
    )


def run(args: argparse.Namespace) -> int:
    # As kubectl: -A with a NAME is refused in its words, and -A wins over -n.
    if args.all_namespaces and args.name:
        raise CommandError(
            "a resource cannot be retrieved by name across all namespaces", EXIT_USAGE
        )
    namespace, autoscalers = _read(args)
    write_output(_rendered(autoscalers, args, _reference(args, namespace)), args.output_file)
    if not autoscalers and args.output in ("text", "wide"):
        # As kubectl get: nothing on stdout, a word on stderr, and no failure. (The other
        # formats print an empty List, or no name.)
        where = "" if args.all_namespaces else f" in {namespace} namespace."
        print(f"No resources found{where}", file=sys.stderr)
    return EXIT_OK


def _rendered(
    autoscalers: Sequence[Mapping[str, Any]], args: argparse.Namespace, reference: str
) -> str:
    if args.output == "name":
        return "".join(f"{object_name(_with_object_metadata(a))}\n" for a in autoscalers)
    if args.output in ("yaml", "json"):
        shown = autoscalers[0] if args.name else as_list(autoscalers)
        return _structured(shown, args.output, reference)
    if not autoscalers:
        return ""
    if args.output == "wide":
        return summary_table(autoscalers, with_namespace=args.all_namespaces) + "\n"
    blocks = [
        (f"Namespace: {_namespace(a)}\n" if args.all_namespaces else "") + explain(a)
        for a in autoscalers
    ]
    return "\n\n".join(blocks) + "\n"


def _structured(shown: Mapping[str, Any], output: str, reference: str) -> str:
    try:
        return render(shown, output)
    except ValueError:  # the client's JSON reader takes NaN and Infinity; no JSON writer does
        raise _unexpected(reference, "a NaN or an infinity, which JSON has no form for") from None


def _reference(args: argparse.Namespace, namespace: str) -> str:
    return f"Autoscaler {namespace}/{args.name}" if args.name else "the Autoscalers"


def _read(args: argparse.Namespace) -> tuple[str, list[Mapping[str, Any]]]:
    """The namespace read (``-n``, else the context's, else the pod's in cluster) and the
    named Autoscaler in it, or every one in it (or in the cluster)."""
    import kubernetes

    from podpilot.kube.clients import TRANSPORT_ERRORS

    clients = connect_one_call_at_a_time(args)
    namespace = args.namespace or clients.pykube.config.namespace
    api = kubernetes.client.CustomObjectsApi(clients.kubernetes)
    reference = _reference(args, namespace)
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
        return namespace, _items(listed, reference)
    except unreadable_answer_errors() as error:
        raise _unexpected(reference, answer_problem(error)) from None
    except kubernetes.client.ApiException as error:
        raise api_failure(error, clients) from None
    except TRANSPORT_ERRORS as error:
        raise api_failure(error, clients) from None
    finally:
        clients.close()


def _checked(answer: object, reference: str) -> Mapping[str, Any]:
    if not isinstance(answer, Mapping):
        raise _unexpected(reference, "not a JSON object")
    return answer


def _unexpected(reference: str, problem: str) -> CommandError:
    return CommandError(unexpected_answer(reference, problem), EXIT_NOT_READ)


def _items(listed: object, reference: str) -> list[Mapping[str, Any]]:
    items = _checked(listed, reference).get("items") or []
    if not isinstance(items, list):
        raise _unexpected(reference, "its items are not a list")
    return [_checked(item, reference) for item in items]


def _with_object_metadata(autoscaler: Mapping[str, Any]) -> Mapping[str, Any]:
    """``autoscaler`` as ``object_name`` reads it: with its metadata an object."""
    metadata = autoscaler.get("metadata")
    return autoscaler if isinstance(metadata, Mapping) else {**autoscaler, "metadata": {}}


def _namespace(autoscaler: Mapping[str, Any]) -> object:
    metadata = autoscaler.get("metadata")
    return metadata.get("namespace") if isinstance(metadata, Mapping) else None
