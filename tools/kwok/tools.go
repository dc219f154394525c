//go:build tools

// Package tools pins a dev-cluster binary.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
