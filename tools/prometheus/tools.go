//go:build tools

// Package tools pins the kind cluster's Prometheus (Debian's is built without Kubernetes
// service discovery).
package tools

import _ "github.com/prometheus/prometheus/cmd/prometheus"
