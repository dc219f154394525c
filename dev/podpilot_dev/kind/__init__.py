"""podpilot on kind: the node image, the cluster, and what runs inside it."""
