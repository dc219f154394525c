"""Errors the engine raises, with upstream's messages so operators can search them."""

from __future__ import annotations

__all__ = ["MetricComputationError", "MissingRequestError", "NoMetricsError", "NoPodsError"]


class MetricComputationError(ValueError):
    """A metric's replica proposal cannot be computed (the HPA's ``FailedGet*Metric``)."""


class NoPodsError(MetricComputationError):
    """The selector matched no pods."""


class NoMetricsError(MetricComputationError):
    """No usable metric sample is left for the selected pods."""


class MissingRequestError(MetricComputationError):
    """A utilization target needs a resource request that a pod does not set."""
