"""Kubernetes resource quantities, parsed exactly (placeholder until the engine work lands)."""
