"""The emptyDir audit's I/O: everything between the kopf handlers and the pure engine.

* ``watched_pods``: the pods with an emptyDir volume, slim, fed by the process's pod watch;
* ``poller``: fetch kubelet Summaries through the API server's node proxy;
* ``owners``: resolve ReplicaSet and Job owners with a cached GET;
* ``publisher``: write ``EmptyDirReport`` objects and the policy status;
* ``recorder``: what the loop reports to the operator's metrics (implemented in observability);
* ``loop``: the state kept between cycles and one cycle of poll, scan, publish.
"""
