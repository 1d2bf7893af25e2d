"""Remediation actions: the ``action`` receiver kind and the runs it starts.

Pure parts: :mod:`~app.actions.spec` (the receiver's configuration), :mod:`~app.actions.render`
(sandboxed templates), :mod:`~app.actions.runs` (a run's states), :mod:`~app.actions.approval`
(signed links, the approval message). At the edges: :mod:`~app.actions.execute` (commands and
HTTP calls), :mod:`~app.actions.sink` (the receiver the notify agent delivers to), and the
``actions`` agent (:mod:`agents.actions`) that owns every run. See ``docs/remediation.md``.
"""
