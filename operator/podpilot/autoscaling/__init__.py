"""Pure HPA decision engine: no Kubernetes client, no clock, no I/O."""
