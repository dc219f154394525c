"""The Autoscaler controller: spec parsing, evaluation, actuation and status.

Pure modules (``spec``, ``selectors``, ``pods``, ``status``, ``fallback``, ``backoff``,
``targets``) take and return plain data; ``evaluator`` and ``actuator`` do the I/O through
``podpilot.kube`` and ``podpilot.metrics``; kopf decorators live in
``podpilot.app.autoscaler`` only.
"""
