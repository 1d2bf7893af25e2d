"""Tenant → the state of its template miner (agents.fingerprint)."""

from tables.define import keyed_table

templates = keyed_table("templates", __doc__)
