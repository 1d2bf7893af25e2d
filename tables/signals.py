"""Tenant → fingerprint rates and incident sizes the scoring features need (agents.score)."""

from tables.define import keyed_table

signals = keyed_table("signals", __doc__)
