//go:build tools

// Package tools pins kubeadm and kube-proxy for the kind node image (podpilot-dev kind), at the
// same Kubernetes version as tools/k8s. A module of its own, so tools/k8s's cache key (and the
// dev cluster's binaries) do not change when kind is added.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubeadm"
)
