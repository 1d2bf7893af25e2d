"""Alert id → the features the model saw, and the labels given so far (agents.labels)."""

from tables.define import keyed_table

observations = keyed_table("observations", __doc__)
