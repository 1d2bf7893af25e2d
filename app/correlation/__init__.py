"""Correlation: which incident an alert belongs to, as pure rules over rows.

Per correlation group (the correlate stage): :mod:`~app.correlation.group` — the group's
session window — over :mod:`~app.correlation.session` (the session row and its bounds).
Tenant-wide (the triage stage, once per new incident):
:mod:`~app.correlation.links` — the rules that merge incidents — over
:mod:`~app.correlation.index` (live incidents), :mod:`~app.correlation.storm` (rates and
storms) and :mod:`~app.correlation.cooccurrence` (templates that fire together).
:mod:`~app.correlation.handler` is what the correlate stage does with one message's records.
"""
