"""podpilot: a Kubernetes operator with three controllers.

* the Autoscaler, an exact re-implementation of the HorizontalPodAutoscaler that explains itself;
* the emptyDir audit, which finds risky emptyDir volumes;
* the flannel subnet reporter, which reports subnet allocation and conflicts.

``operator/`` is a source root, not a package: the import package is ``podpilot``.
"""

__version__ = "0.1.0"
