"""``tenant|f|<fingerprint>`` → fingerprint rate, ``tenant|i|<incident>`` → incident size, each
``[value, last event ms, offset]``: what the scoring features need (agents.score)."""

from tables.define import keyed_table

signals = keyed_table("signals", __doc__)
