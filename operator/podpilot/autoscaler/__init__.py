"""The Autoscaler: a port of the HorizontalPodAutoscaler as a podpilot.io custom resource.

``engine`` (the HPA port), ``api`` (the resource in and out) and ``policy`` (fallback,
activation, pause, dry-run) are pure; ``sources`` reads the metrics APIs and ``controller``
watches, evaluates and writes status. kopf handlers live in ``podpilot.app.autoscaler``.
"""
