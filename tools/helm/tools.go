//go:build tools

// Package tools pins a dev-cluster binary.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
