"""The emptyDir audit: which emptyDir volumes can fill up, evict their pod, or already did.

* ``engine``: the audit itself, pure (pod specs, node facts and usage samples in; findings out);
* ``api``: the ``EmptyDirAuditPolicy`` read in and the ``EmptyDirReport`` written out, pure;
* ``controller``: Summary polls, the cycle loop and report writes (I/O).

The kopf handlers that drive it live in :mod:`podpilot.app.emptydir`.
"""
