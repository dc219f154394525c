"""The files kind reads from a node image's ``/kind`` directory."""

from __future__ import annotations

# kind applies this on create. A default StorageClass only: kind's own manifest would also run
# local-path-provisioner from an image this project does not build yet, and pulling it is not
# allowed. Claims of this class stay Pending until a provisioner is installed.
DEFAULT_STORAGE = """apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  namespace: kube-system
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
"""

# kind applies this only when networking.disableDefaultCNI is false; kind-config.yaml sets it
# true and flannel is the cluster's CNI. Harmless if applied anyway: it starts nothing.
DEFAULT_CNI = """apiVersion: v1
kind: ConfigMap
metadata:
  name: podpilot-no-default-cni
  namespace: kube-system
data:
  note: >-
    This node image has no default CNI; set networking.disableDefaultCNI to true and install
    flannel (see docs/kind.md).
"""

FILES = {"default-storage.yaml": DEFAULT_STORAGE, "default-cni.yaml": DEFAULT_CNI}
