"""The actions agent's state (agents.actions): runs, rate-limit windows, the kill switch.

``run|<run id>`` → the run (app.actions.runs); ``limit|<route>|<receiver>`` → the start times of
that route's recent runs of that action; ``kill_switch`` → who engaged it, when and why. One
partition, like ``actions.events`` that writes it: one worker owns every run at a time. Finished
runs are deleted after ``RETENTION_MS``, so the table holds the last week's runs.
"""

from app.faust_app import app
from app.runtime import StateTable

actions = StateTable(app, "actions", 1, __doc__ or "")
