//go:build tools

// Package tools pins a dev-cluster binary.
package tools

import _ "github.com/flannel-io/flannel"
