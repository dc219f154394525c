"""The emptyDir audit controller: everything between the kopf handlers and the pure audit.

* ``policy``: the ``EmptyDirAuditPolicy`` spec as typed settings;
* ``objects``: slim copies of pods, nodes and namespaces for the in-memory model (kopf indices);
* ``schedule``: when each node's Summary API is due, with backoff and jitter;
* ``poller``: fetch Summaries through the API server's node proxy (I/O);
* ``scan``: one full audit over the in-memory model (pure);
* ``transitions``: which findings are new or changed, for Events;
* ``series``: the values of the ``podpilot_emptydir_*`` metrics (pure);
* ``report_objects``: ``EmptyDirReport`` manifests, conditions, change detection (pure);
* ``publisher``, ``owners``: writes reports and resolves owners through the API (I/O);
* ``controller``: the state kept between cycles and one cycle of poll, scan, publish.
* ``rbac``: the exact RBAC rules the controller uses (documentation and e2e test share them).
"""
