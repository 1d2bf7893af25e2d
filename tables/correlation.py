"""Rows of agents.correlate, every key beginning with the tenant (the stream's key): the tenant's
head (indexes, rates, sweep position), incidents, alert → incident, fingerprint → last incident,
template and pair occasion counts, and hourly expiry buckets."""

from tables.define import keyed_table

correlation = keyed_table("correlation", __doc__)
