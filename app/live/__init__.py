"""The live feed behind ``GET /api/v1/stream``: a Kafka view, fanned out to bounded subscribers.

``sources`` says which topics feed it and how a record becomes an event; ``cursor`` encodes a
position (Kafka offsets per partition) as an opaque string; ``hub`` fans events out to
subscribers, each with a bounded buffer that drops and counts when its client is slow; ``feed``
is the Kafka side: one consumer per worker (no group, nothing committed) and a catch-up read
from a cursor on reconnect.
"""
