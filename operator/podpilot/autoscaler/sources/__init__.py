"""Metric sources (I/O): one module per metrics API, all behind the MetricSource interface."""
