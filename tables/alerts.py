"""Alert id → the latest enriched alert and what people did with it (agents.alert_view)."""

from tables.define import keyed_table

alerts = keyed_table("alerts", __doc__)
