"""The emptyDir audit's resources in and out, pure.

* ``policy``: ``EmptyDirAuditPolicy.spec`` → ``engine.audit_policy.AuditPolicy``;
* ``report_objects``: ``EmptyDirReport`` manifests, status bodies, conditions, change detection;
* ``events``: what the Events that announce findings say (bodies: ``apimachinery.events``);
* ``rbac``: the exact RBAC rules the controller uses (documentation and e2e test share them).
"""
