"""Tenant → the pickled online scoring model (agents.score)."""

from tables.define import keyed_table

models = keyed_table("models", __doc__)
