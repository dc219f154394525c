"""A real kind cluster on podman, with a node image built locally from Debian packages and Go
modules (``podpilot-dev kind up | down | status | build``); see docs/kind.md."""
