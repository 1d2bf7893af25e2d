"""Tenant and fingerprint → template and feedback statistics (agents.fingerprint_stats)."""

from tables.define import keyed_table

fingerprint_stats = keyed_table("fingerprint_stats", __doc__)
