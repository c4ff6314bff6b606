"""The side-by-side benchmark of rancher-deploy (not a test): ``python bench/compare.py``.

Each module owns one concern: ``procs`` runs a tool as a whole process, ``peer`` installs the peer
(rancher-gitlab-deploy 1.7), ``ideal`` holds the ideal clients and the 10 ms watcher that measure
the simulator's own convergence, ``tally`` sorts the simulator's request log by kind, ``cattle``
and ``rancher2`` are the scenarios, ``report`` and ``plot`` write docs/performance.md and its PNG.
"""
