"""Pure flannel subnet model: nodes, net-conf and pod IPs in; subnet rows and findings out.

No Kubernetes client, no I/O and no clock reads live here (an import-linter contract enforces
it). The controller calls :func:`podpilot.flannel.engine.report.build_report` with plain dicts
and renders the result with :mod:`podpilot.flannel.api.status`.

Modules: ``netconf`` (net-conf.json), ``annotations`` (flannel's node annotations and
backend-data), ``node_subnets`` (one row per node), ``cluster`` (subnet capacity), ``overlaps``
(CIDR overlap detection), ``findings`` (catalogue), ``node_checks`` and ``cluster_checks`` (the
checks), ``report`` (assembly), ``model_cache`` (slim copies of watched objects and the
snapshot), ``selectors`` (the reporter's label selector flags), ``transitions`` (findings that
appeared or cleared). See docs/flannel-reporter.md.
"""
