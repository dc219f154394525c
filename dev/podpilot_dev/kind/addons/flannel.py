"""flannel as its own kube-flannel.yml deploys it, from the locally built image.

The one difference: flannel's CNI plugin is not available (its Go module is not served), so
instead of the two init containers that copy the plugin and its conflist, an ``install-cni``
sidecar waits for flanneld's ``/run/flannel/subnet.env`` and writes the conflist the plugin
would have delegated to: Debian's ``bridge`` + ``host-local`` (the kind node image has them
in ``/opt/cni/bin``) on the node's lease. It rewrites the file whenever the lease changes.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping

from podpilot_dev import flannel
from podpilot_dev.kind.addons.common import (
    Document,
    cluster_role,
    cluster_role_binding,
    metadata,
    namespace,
    rule,
    service_account,
)

NAMESPACE = flannel.NAMESPACE
CONFIGMAP = flannel.CONFIGMAP
NAME = "flannel"
DAEMONSET = "kube-flannel-ds"
POD_NETWORK = "10.244.0.0/16"  # kind's default podSubnet
CNI_NETWORK_NAME = "cbr0"  # the name kube-flannel.yml's conflist gives the network
CNI_CONF_KEY = "cni-conf.json"
CNI_CONFLIST = "/etc/cni/net.d/10-flannel.conflist"
LABELS = {"app": "flannel", "k8s-app": "flannel", "tier": "node"}

# Stand-ins the install-cni script replaces with the values of subnet.env. The MTU's
# placeholder is a JSON string so the template is valid JSON; the quotes go with it.
SUBNET_PLACEHOLDER = "@FLANNEL_SUBNET_NETWORK@"
GATEWAY_PLACEHOLDER = "@FLANNEL_GATEWAY@"
MTU_PLACEHOLDER = "@FLANNEL_MTU@"
NETWORK_PLACEHOLDER = "@FLANNEL_NETWORK@"

INSTALL_CNI_SCRIPT = f"""set -u
trap 'exit 0' TERM INT
template=/etc/kube-flannel/{CNI_CONF_KEY}
conf={CNI_CONFLIST}
while :; do
  if [ -s /run/flannel/subnet.env ]; then
    . /run/flannel/subnet.env
    eval "$(ipcalc -n -p "$FLANNEL_SUBNET")"
    sed -e "s|{SUBNET_PLACEHOLDER}|$NETWORK/$PREFIX|" \\
        -e "s|{GATEWAY_PLACEHOLDER}|${{FLANNEL_SUBNET%/*}}|" \\
        -e "s|\\"{MTU_PLACEHOLDER}\\"|$FLANNEL_MTU|" \\
        -e "s|{NETWORK_PLACEHOLDER}|$FLANNEL_NETWORK|" "$template" > "$conf.tmp"
    if cmp -s "$conf.tmp" "$conf"; then
      rm -f "$conf.tmp"
    else
      mv -f "$conf.tmp" "$conf"
      echo "wrote $conf for lease $FLANNEL_SUBNET"
    fi
  fi
  sleep 5 & wait $!
done
"""


def net_conf() -> str:
    return json.dumps(flannel.net_conf(POD_NETWORK), indent=2)


def cni_conf_template() -> str:
    """The conflist flannel's plugin would delegate to, with subnet.env's values left open."""
    document = flannel.bridge_conflist(
        name=CNI_NETWORK_NAME,
        subnet=SUBNET_PLACEHOLDER,
        gateway=GATEWAY_PLACEHOLDER,
        mtu=MTU_PLACEHOLDER,
        network=NETWORK_PLACEHOLDER,
        default_gateway=True,
        port_mapping=True,
    )
    return json.dumps(document, indent=2) + "\n"


def render_cni_conf(template: str, subnet_env: Mapping[str, str]) -> str:
    """What the install-cni script writes for ``subnet_env`` (its logic, in Python, for tests
    and for anyone reading the script)."""
    lease = ipaddress.ip_interface(subnet_env["FLANNEL_SUBNET"])
    return (
        template.replace(SUBNET_PLACEHOLDER, str(lease.network))
        .replace(GATEWAY_PLACEHOLDER, str(lease.ip))
        .replace(f'"{MTU_PLACEHOLDER}"', subnet_env["FLANNEL_MTU"])
        .replace(NETWORK_PLACEHOLDER, subnet_env["FLANNEL_NETWORK"])
    )


def _host_path(name: str, path: str, kind: str | None = None) -> Document:
    host_path: Document = {"path": path}
    if kind is not None:
        host_path["type"] = kind
    return {"name": name, "hostPath": host_path}


def daemon_set(image: str) -> Document:
    flanneld = {
        "name": "kube-flannel",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["/opt/bin/flanneld"],
        "args": ["--ip-masq", "--kube-subnet-mgr"],
        "resources": {"requests": {"cpu": "100m", "memory": "50Mi"}},
        "securityContext": {
            "privileged": False,
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"]},
        },
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            },
            {"name": "EVENT_QUEUE_DEPTH", "value": "5000"},
            {"name": "CONT_WHEN_CACHE_NOT_READY", "value": "false"},
        ],
        "volumeMounts": [
            {"name": "run", "mountPath": "/run/flannel"},
            {"name": "flannel-cfg", "mountPath": "/etc/kube-flannel/"},
            {"name": "xtables-lock", "mountPath": "/run/xtables.lock"},
        ],
    }
    install_cni = {
        "name": "install-cni",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["/bin/sh", "-c", INSTALL_CNI_SCRIPT],
        "resources": {"requests": {"cpu": "5m", "memory": "8Mi"}},
        "volumeMounts": [
            {"name": "run", "mountPath": "/run/flannel", "readOnly": True},
            {"name": "flannel-cfg", "mountPath": "/etc/kube-flannel/", "readOnly": True},
            {"name": "cni", "mountPath": "/etc/cni/net.d"},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": metadata(DAEMONSET, NAMESPACE, **LABELS),
        "spec": {
            "selector": {"matchLabels": {"app": "flannel", "k8s-app": "flannel"}},
            "template": {
                "metadata": {"labels": dict(LABELS)},
                "spec": {
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": [
                                    {
                                        "matchExpressions": [
                                            {
                                                "key": "kubernetes.io/os",
                                                "operator": "In",
                                                "values": ["linux"],
                                            }
                                        ]
                                    }
                                ]
                            }
                        }
                    },
                    "hostNetwork": True,
                    "priorityClassName": "system-node-critical",
                    "tolerations": [{"operator": "Exists"}],
                    "serviceAccountName": NAME,
                    "containers": [flanneld, install_cni],
                    "volumes": [
                        _host_path("run", "/run/flannel"),
                        _host_path("cni", "/etc/cni/net.d"),
                        {"name": "flannel-cfg", "configMap": {"name": CONFIGMAP}},
                        _host_path("xtables-lock", "/run/xtables.lock", "FileOrCreate"),
                    ],
                },
            },
        },
    }


def manifests(image: str) -> list[Document]:
    return [
        namespace(NAMESPACE, "privileged"),
        service_account(NAME, NAMESPACE),
        cluster_role(
            NAME,
            [
                rule([""], ["pods"], ["get"]),
                rule([""], ["nodes"], ["get", "list", "watch"]),
                rule([""], ["nodes/status"], ["patch"]),
            ],
        ),
        cluster_role_binding(NAME, NAME, NAME, NAMESPACE),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(CONFIGMAP, NAMESPACE, **LABELS),
            "data": {CNI_CONF_KEY: cni_conf_template(), flannel.NET_CONF_KEY: net_conf()},
        },
        daemon_set(image),
    ]
