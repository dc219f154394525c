"""The flannel reporter's controller: in-memory inputs, debounced recompute, reports, events.

The computation itself is the pure ``podpilot.network`` package; this package only collects
snapshots for it and publishes what it returns. kopf decorators live in
``podpilot.app.flannel``.
"""
