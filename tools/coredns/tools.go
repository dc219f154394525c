//go:build tools

// Package tools pins CoreDNS, preloaded into the kind node image (podpilot-dev kind).
package tools

import _ "github.com/coredns/coredns"
