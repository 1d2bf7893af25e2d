"""Tenant → its online model (base64 pickle), validation and kind statistics (agents.score)."""

from tables.define import keyed_table

models = keyed_table("models", __doc__)
