"""Flow tests: against a real Kafka broker and worker processes, end to end.

A test belongs here when it needs the session broker or worker (the fixtures of
``tests/flow/conftest.py``), starts a broker or worker of its own (:class:`tests.harness.Worker`,
:func:`app.broker.embedded_broker`), or drives real clients that talk to a worker (Prometheus,
Alertmanager, amtool, chromium). ``make test-flow`` runs this directory; it takes minutes.
"""
