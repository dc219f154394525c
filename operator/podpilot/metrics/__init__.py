"""Metric sources, one module per API, all behind the MetricSource interface."""
