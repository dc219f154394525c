"""podpilot's own Prometheus metrics (prometheus_client) and their HTTP endpoint."""
