"""Unit tests: no Kafka broker, no worker process; the whole directory runs in about a minute.

A test belongs here when it exercises code in-process (pure functions, the stages over in-memory
rows, local HTTP/SMTP stand-ins), runs a command that exits without a broker (``--help``,
``check-config``, a settings error), or asks a standalone tool (amtool, promtool, helm; skipped
where it is not installed). The broker and worker fixtures live in ``tests/flow/conftest.py``
and cannot be requested from here. ``make test-unit`` runs this directory with the doctests of
app/, agents/ and tables/.
"""
