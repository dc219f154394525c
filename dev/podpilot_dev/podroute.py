"""Let pods on the real nodes reach the apiserver relay on the bridge gateway, and only that.

Pods get a route to the flannel network only, so an in-cluster client (the operator's pod)
cannot reach the apiserver, and the ``kubernetes`` Service's ClusterIP is not an option: there
is no kube-proxy, and that address is not the dev cluster's to dial. The relay listens on the
gateway the dev cluster gave the node bridge (its certificate names that address), so each
node gets, idempotently:

- a CNI route ``<gateway>/32`` through the pod bridge (pods created afterwards get it);
- in the node's network namespace, pod traffic to ``<gateway>:6443`` is masqueraded to the
  node's address (the host has no route back to the pod network, so an unmasqueraded reply
  would follow the host's default route), and any other pod traffic to the gateway is
  dropped.

Everything lives in the node's namespace and directory, so ``down`` removes it with them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from podpilot_dev import flannel, netns
from podpilot_dev.realnodes import RELAY_PORT, Ledger, NodeRecord

CONFLIST = "10-podpilot-flannel.conflist"
COMMENT = "podpilot-dev: pods to the apiserver relay"


def conflist_with_route(text: str, destination: str) -> str:
    """The CNI config with a route to ``destination`` added to the bridge's IPAM (once)."""
    document = json.loads(text)
    for plugin in document["plugins"]:
        if plugin.get("type") != "bridge":
            continue
        routes = plugin.setdefault("ipam", {}).setdefault("routes", [])
        if {"dst": destination} not in routes:
            routes.append({"dst": destination})
    return json.dumps(document, indent=2) + "\n"


def rules(gateway: str) -> list[tuple[str, list[str]]]:
    """(table, rule) pairs, each inserted at the top of its chain in this order (so the last
    one ends up first: the ACCEPT precedes the DROP, and both precede flannel's FORWARD
    ACCEPT of the whole pod network)."""
    pods = ["-s", flannel.CLUSTER_NETWORK, "-d", f"{gateway}/32"]
    comment = ["-m", "comment", "--comment", COMMENT]
    relay = ["-p", "tcp", "--dport", str(RELAY_PORT)]
    return [
        ("nat", ["POSTROUTING", *pods, *relay, *comment, "-j", "MASQUERADE"]),
        ("filter", ["FORWARD", *pods, *comment, "-j", "DROP"]),
        ("filter", ["FORWARD", *pods, *relay, *comment, "-j", "ACCEPT"]),
    ]


def _iptables(node: NodeRecord, table: str, action: str, rule: list[str]) -> int:
    command = netns.in_netns(node.netns, ["iptables", "-w", "-t", table, action, *rule])
    result = subprocess.run(command, capture_output=True, text=True)
    if action != "-C" and result.returncode != 0:
        raise netns.NetworkError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return result.returncode


def ensure(ledger: Ledger) -> None:
    gateway = ledger.network.gateway
    for node in ledger.nodes:
        wanted = rules(gateway)
        if any(_iptables(node, table, "-C", rule) != 0 for table, rule in wanted):
            # Re-insert all of them: their relative order is what makes them right.
            for table, rule in wanted:
                while _iptables(node, table, "-C", rule) == 0:
                    _iptables(node, table, "-D", rule)
            for table, rule in wanted:
                _iptables(node, table, "-I", rule)
        conflist = Path(node.directory) / "containerd" / "cni" / "net.d" / CONFLIST
        current = conflist.read_text()
        text = conflist_with_route(current, f"{gateway}/32")
        if text != current:
            # containerd watches the directory and only reads *.conflist: write, then rename.
            temporary = conflist.with_suffix(".tmp")
            temporary.write_text(text)
            temporary.replace(conflist)
