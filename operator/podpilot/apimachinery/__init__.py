"""Pure Kubernetes value helpers, one of each: quantities, label selectors, timestamps, backoff.

No I/O, no clock, no client: everything here takes values and returns values.
"""
