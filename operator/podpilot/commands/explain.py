"""``podpilot explain NAME``: an Autoscaler's last decision in words."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from podpilot.apimachinery.group import GROUP, VERSION
from podpilot.autoscaler.api.explanation import explain


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the Autoscaler's name")
    parser.add_argument("-n", "--namespace", default="default")
    parser.add_argument("--kubeconfig", default=None)


def run(args: argparse.Namespace) -> int:
    import kubernetes

    from podpilot.kube.clients import connect

    clients = connect(args.kubeconfig, max_concurrent_calls=1)
    try:
        api = kubernetes.client.CustomObjectsApi(clients.kubernetes)
        autoscaler: object = api.get_namespaced_custom_object(
            GROUP, VERSION, args.namespace, "autoscalers", args.name
        )
    except kubernetes.client.ApiException as error:
        print(
            f"cannot read Autoscaler {args.namespace}/{args.name}: {error.reason}", file=sys.stderr
        )
        return 1
    finally:
        clients.close()
    if not isinstance(autoscaler, Mapping):
        print(f"unexpected answer for {args.namespace}/{args.name}", file=sys.stderr)
        return 1
    print(explain(autoscaler))
    return 0
