"""Heartbeat name → its state (app.heartbeats): one row per configured heartbeat, one partition.

Written by :mod:`agents.heartbeats` only, read by its clock and by ``GET /api/v1/heartbeats``.
"""

from app.faust_app import app
from app.runtime import StateTable

heartbeats = StateTable(app, "heartbeats", 1, __doc__ or "")
