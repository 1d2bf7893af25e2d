"""Alert id → labels of a firing alert that may inhibit others (agents.notify, app.inhibition).

A GlobalTable: inhibition crosses incidents, so every worker needs every possible source. Rows
go when their alert resolves.
"""

from app.faust_app import app

inhibitors = app.GlobalTable(
    "inhibitors",
    key_type=str,
    partitions=1,
    recovery_buffer_size=1,
    use_partitioner=True,
    help=__doc__,
)
