//go:build tools

// Package tools pins a dev-cluster binary.
package tools

import _ "go.etcd.io/etcd/server/v3"
