"""Backtest and recommend: replay an Autoscaler's decisions over recorded history. Pure.

- ``trace``: the recorded history, one value per step (per-pod usage and requests for
  Resource metrics and the pods' phases, one reduced value per PromQL query, the workload's
  replica count), and the window's end;
- ``replay``: the Autoscaler's own ``policy.plan.decide`` step by step over a trace, time
  passed as an argument and ``Memory`` carried from one step to the next;
- ``summary``: the figures of one replica curve (replica-minutes, time over target, ...);
- ``candidates`` and ``search``: variations of a spec, and the cheapest one whose load stays
  under a ceiling.

Reading the history (Prometheus range queries) and drawing it are I/O and live elsewhere
(``sources/prometheus_range.py`` and, for the pods' phases, ``commands/backtest_inputs.py``;
``commands/backtest_plot.py``).
"""
