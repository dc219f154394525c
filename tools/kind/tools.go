//go:build tools

// Package tools pins kind, which runs the kind cluster (podpilot-dev kind).
package tools

import _ "sigs.k8s.io/kind"
