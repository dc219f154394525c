//go:build tools

// Package tools pins helm-docs, which generates helm/podpilot/README.md from values.yaml.
package tools

import _ "github.com/norwoodj/helm-docs/cmd/helm-docs"
