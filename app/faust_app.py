"""The one Faust app; agents, tables and views import it from here."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable

import faust

from app import codecs as _codecs  # noqa: F401  (registers the orjson codec)
from app import kafka_backoff as _kafka_backoff  # noqa: F401  (aiokafka: no spin, broker gone)
from app import kafka_fetch as _kafka_fetch  # noqa: F401  (a held partition is read again at once)
from app import kafka_inline as _kafka_inline  # noqa: F401  (Faust: the consumer on the loop)
from app import kafka_pause as _kafka_pause  # noqa: F401  (paused changelogs are not fetched)
from app import kafka_resume as _kafka_resume  # noqa: F401  (Faust: nothing lost in a rebalance)
from app import kafka_seek as _kafka_seek  # noqa: F401  (aiokafka: uncommitted partitions reset)
from app import stream_gaps as _stream_gaps  # noqa: F401  (Faust: skipped offsets reported)
from app.middleware import json_errors
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
    # Stages and changelogs send many small JSON records: batch them and compress the batches.
    producer_compression_type="lz4",
    producer_linger_ms=2,
    producer_max_batch_size=256 * 1024,
    key_serializer="raw",
    value_serializer="orjson",
    consumer_auto_offset_reset="earliest",
    # A dead worker's partitions move to the others within seconds, not a minute.
    broker_session_timeout=15.0,
    broker_heartbeat_interval=3.0,
    stream_wait_empty=False,
    web_port=settings.http_port,
    web_host=settings.http_host,
    web_bind=settings.http_bind,
    # Faust's own views (/router/, /table/<name>/<key>/, /stats/, /graph/, /performance/) read
    # tables and topology without a token: off. Routing to the owner of a key does not use them.
    web_router_enabled=False,
    web_tables_enabled=False,
    web_stats_enabled=False,
    web_graph_enabled=False,
    web_metrics_enabled=False,
    web_application_options={"client_max_size": MAX_BODY_BYTES, "middlewares": [json_errors]},
    autodiscover=False,
)


Job = Callable[[], Awaitable[None]]


def every(seconds: float) -> Callable[[Job], Job]:
    """Run the decorated job every ``seconds`` while the worker runs (``app.timer``, typed)."""

    def register(job: Job) -> Job:
        app.timer(interval=seconds)(job)
        return job

    return register


def at_start(job: Job) -> Job:
    """Run ``job`` once when the worker has started (``app.task``, typed)."""
    app.task(job)
    return job


TOPOLOGY = (
    "agents.dedup",
    "agents.triage",
    "agents.notify",
    "agents.incident_feedback",
    "agents.fingerprint_stats",
    "agents.metric_rules",
    "agents.actions",
    "agents.heartbeats",
    "app.web",
)


def load_modules() -> None:
    """Import every agent and view (and so every table) so the worker knows the topology."""
    for module in TOPOLOGY:
        importlib.import_module(module)
