"""``podpilot-dev kind up | down | status | build``."""

from __future__ import annotations

import argparse
import sys

from podpilot_dev import toolchain
from podpilot_dev.kind import cluster, images, nodeimage, podman, stack
from podpilot_dev.kind.steps import KindError, say
from podpilot_dev.operator_image import ImageBuildError

ERRORS = (KindError, podman.PodmanError, toolchain.ToolchainError, ImageBuildError)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("up", help="build or reuse the node image; create or reuse the cluster")
    actions.add_parser("down", help="delete the kind cluster")
    actions.add_parser("status", help="show the cluster's nodes; exit 1 if there is none")
    actions.add_parser(
        "build",
        help="only build (or find cached) what 'up' needs but the operator: the node image and "
        "the in-cluster images",
    )


def run(args: argparse.Namespace) -> int:
    try:
        if args.action == "up":
            cluster.up()
        elif args.action == "down":
            cluster.down()
        elif args.action == "build":
            print(nodeimage.build().reference)
            for image in images.build_all(list(stack.IMAGE_NAMES), report=say).values():
                print(image.reference)
        elif args.action == "status":
            running, text = cluster.status()
            print(text)
            return 0 if running else 1
    except ERRORS as error:
        print(f"kind: error: {error}", file=sys.stderr)
        return 1
    return 0
