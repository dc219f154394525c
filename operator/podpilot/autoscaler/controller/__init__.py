"""The Autoscaler's I/O: the pod and Deployment watches, evaluation (read, decide, act) and
the per-Autoscaler loop with its status writes."""
