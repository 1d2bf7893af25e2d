"""(incident, receiver, state) → the notification log entry (agents.notify, app.nflog).

Written only while handling an event of the incident's partition, so every key of an incident
lives in the incident's changelog partition.
"""

from tables.define import keyed_table

nflog = keyed_table("nflog", __doc__)
