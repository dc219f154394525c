"""Pure Kubernetes value helpers, one of each: quantities, label selectors, timestamps, backoff,
status conditions, Events on change (see docs/architecture.md for the whole list).

No I/O, no clock, no client: everything here takes values and returns values.
"""
