"""Rows of the triage stage, every key beginning with the tenant (the stream's key).

``<tenant>`` (storms, recent templates, incidents opened in the last minute), ``<tenant>|r``
(rates of new alerts per scope, a deferred row), ``<tenant>|ph|<scope>`` (the scope's phase),
``<tenant>|i|<incident>`` and ``<tenant>|x|<kind>|<value>`` (the index of live incidents),
``<tenant>|o|<template>`` and ``<tenant>|p|<pair>`` (co-occurrence), ``<tenant>|tc|<template>``
and ``<tenant>|tm`` (the template miner), ``<tenant>|m`` and ``<tenant>|m|<n>`` (the model,
chunked); beside them ``\\x00triage|<partition>`` (positions
applied) and the expiry buckets ``\\x00triage|<partition>|<hour>``.
"""

from app.faust_app import app
from app.runtime import StateTable
from app.topics import PARTITIONS

triage = StateTable(app, "triage", PARTITIONS, __doc__ or "")
