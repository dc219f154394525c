"""Thin kopf handler modules: the only place that imports kopf decorators."""
