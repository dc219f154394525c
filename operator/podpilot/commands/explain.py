"""``podpilot explain NAME``: an Autoscaler's last decision in words."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from podpilot.apimachinery.group import GROUP, VERSION
from podpilot.autoscaler.api.explanation import explain

EXIT_NOT_READ = 1
EXIT_NO_ANSWER = 3
EXIT_STATUS = f"""\
exit status:
  0  the explanation was printed
  {EXIT_NOT_READ}  the Autoscaler could not be read: the API server refused (not found,
     forbidden, ...), or no credentials could be loaded
  2  the command line is wrong
  {EXIT_NO_ANSWER}  the API server could not be reached, or did not answer within
     --request-timeout seconds
Every failure is one line on stderr, starting with "podpilot explain: error:".
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from podpilot.kube.clients import READ_TIMEOUT

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXIT_STATUS
    parser.add_argument("name", help="the Autoscaler's name")
    parser.add_argument("-n", "--namespace", default="default")
    parser.add_argument("--kubeconfig", default=None)
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=READ_TIMEOUT,
        metavar="SECONDS",
        help=f"seconds to wait for the API server's answer (default {READ_TIMEOUT:g})",
    )


def _error(message: str, code: int) -> int:
    print(f"podpilot explain: error: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    import kubernetes

    from podpilot.kube.clients import (
        TRANSPORT_ERRORS,
        CredentialsError,
        Timeouts,
        connect,
        no_answer,
    )

    try:
        clients = connect(
            args.kubeconfig, max_concurrent_calls=1, timeouts=Timeouts.reading(args.request_timeout)
        )
    except CredentialsError as error:
        return _error(str(error), EXIT_NOT_READ)
    reference = f"Autoscaler {args.namespace}/{args.name}"
    try:
        api = kubernetes.client.CustomObjectsApi(clients.kubernetes)
        autoscaler: object = api.get_namespaced_custom_object(
            GROUP, VERSION, args.namespace, "autoscalers", args.name
        )
    except kubernetes.client.ApiException as error:
        if not error.status:  # no HTTP answer (a TLS failure): the client reports status 0
            return _error(f"the API server at {clients.server}: {error.reason}", EXIT_NO_ANSWER)
        return _error(f"cannot read {reference}: {error.reason}", EXIT_NOT_READ)
    except TRANSPORT_ERRORS as error:
        return _error(no_answer(error, clients.server, clients.timeouts), EXIT_NO_ANSWER)
    finally:
        clients.close()
    if not isinstance(autoscaler, Mapping):
        return _error(f"unexpected answer for {reference}", EXIT_NOT_READ)
    print(explain(autoscaler))
    return 0
