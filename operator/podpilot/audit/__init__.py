"""Pure emptyDir audit: pod specs, node facts and usage samples in; records and findings out.

No Kubernetes client, no I/O, no clock: time is always an argument. The modules, in data order:

* ``volumes``: pod spec → emptyDir volumes with effective limits and which limit binds;
* ``summary``: kubelet Summary API JSON → per-pod volume samples;
* ``trend``: a small ring of samples per volume and the time-to-limit projection;
* ``records``: spec + sample + ring → a per-volume record;
* ``findings``, ``evictions``: records and pod status → findings (IDs in ``catalogue``);
* ``pod_audit``: all of the above for one pod;
* ``report``: roll-ups per owning workload and for the cluster, rendered as CRD status.
"""
