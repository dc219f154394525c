"""The emptyDir audit itself, pure: pod specs, node facts and usage samples in; findings out.

No Kubernetes client, no I/O, no clock: time is always an argument. The modules, in data order:

* ``model``, ``catalogue``: the audit's value types and its finding IDs;
* ``objects``: slim copies of pods and nodes for the in-memory model;
* ``audit_policy``: what to audit and how (the typed ``EmptyDirAuditPolicy`` settings);
* ``volumes``: pod spec → emptyDir volumes with effective limits and which limit binds;
* ``summary``: kubelet Summary API JSON → per-pod volume samples;
* ``schedule``: when each node's Summary is due, with backoff and jitter;
* ``trend``: a small ring of samples per volume and the time-to-limit projection;
* ``records``: spec + sample + ring → a per-volume record;
* ``findings``, ``evictions``, ``nodefs``: records, pod status and node fs → findings;
* ``eviction_log``: evictions of pods already gone, from the kubelet's ``Evicted`` Events;
* ``pod_audit``: all of the above for one pod;
* ``report``: roll-ups per owning workload and for the cluster, rendered as CRD status;
* ``scan``: one full audit over the in-memory model;
* ``transitions``: which findings are new or changed, deduplicated and rate-limited, for Events;
* ``series``: the values of the ``podpilot_emptydir_*`` metrics;
* ``name_pattern``: ``exemptions.volumeNamePattern``, matched by RE2; ``_format``: sizes and
  durations in finding messages.
"""
