"""The one Faust app; agents, tables and views import it from here."""

from __future__ import annotations

import faust

from app import codecs as _codecs  # noqa: F401  (registers the orjson codec)
from app.settings import load_settings

MAX_BODY_BYTES = 16 * 1024 * 1024

settings = load_settings()

app = faust.App(
    "alertflow",
    broker=[f"kafka://{server.strip()}" for server in settings.bootstrap.split(",")],
    store="rocksdb://",
    datadir=str(settings.data_dir / f"worker-{settings.http_port}"),
    topic_partitions=settings.partitions,
    topic_replication_factor=1,
    topic_allow_declare=True,
    producer_acks=-1,
    key_serializer="raw",
    value_serializer="orjson",
    consumer_auto_offset_reset="earliest",
    stream_wait_empty=False,
    web_port=settings.http_port,
    web_host=settings.http_host,
    web_application_options={"client_max_size": MAX_BODY_BYTES},
    autodiscover=False,
)


def load_modules() -> None:
    """Import every agent, table and view so the worker knows the whole topology."""
    import agents  # noqa: F401
    import app.web  # noqa: F401
    import tables  # noqa: F401
