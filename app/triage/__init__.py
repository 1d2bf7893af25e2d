"""Triage: per alert its template, route, score and storm hint; per new incident the
tenant-wide merges; per label the model learns. :mod:`~app.triage.handler` is what the triage
stage does with one message's records; :mod:`~app.triage.templates` keeps a tenant's template
miner in rows, :mod:`~app.triage.routing` holds the configuration snapshot the stages route by.
"""
