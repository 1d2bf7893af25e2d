"""The ``alertflow`` command: run, worker, broker, templates, tail, eval."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

from app.settings import EMBEDDED_BROKER_PORT, Settings, SettingsError, load_settings

CACHE_DIR = Path(
    os.environ.get("ALERTFLOW_CACHE_DIR", Path(__file__).resolve().parents[1] / ".cache")
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="alertflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="embedded broker (unless KAFKA_BOOTSTRAP) + worker + HTTP API")
    commands.add_parser("worker", help="one Faust worker with the HTTP API")
    commands.add_parser("broker", help="the embedded Kafka broker, with the topics created")
    commands.add_parser("templates", help="stdin lines → '<template_id>\\t<template>' lines")
    tail = commands.add_parser("tail", help="follow a topic, one JSON record per line")
    tail.add_argument("--topic", default="alerts.enriched")
    tail.add_argument("--from-beginning", action="store_true", help="start at the oldest record")
    evaluate = commands.add_parser("eval", help="replay a stream with feedback; learning curve")
    evaluate.add_argument("--seed", type=int, default=1, help="of the simulated stream")
    evaluate.add_argument("--days", type=float, default=7.0, help="of the simulated stream")
    evaluate.add_argument("--tenants", nargs="+", default=["acme", "globex"])
    evaluate.add_argument("--enriched", type=Path, help="recorded alerts.enriched (JSON lines)")
    evaluate.add_argument("--feedback", type=Path, help="recorded alerts.feedback (JSON lines)")
    evaluate.add_argument("--model", default="logistic", help="logistic, hoeffding or forest")
    evaluate.add_argument("--plot", type=Path, default=Path("learning-curve.png"))
    evaluate.add_argument("--json", action="store_true", help="the figures as one JSON object")
    check = commands.add_parser(
        "check-config", help="validate the configuration; print every error; exit 0, or 2"
    )
    check.add_argument("file", nargs="?", type=Path, help="default: $ALERTFLOW_CONFIG")
    check.add_argument(
        "--alertmanager",
        type=Path,
        help="an alertmanager.yml (default: $ALERTFLOW_ALERTMANAGER_CONFIG)",
    )
    args = parser.parse_args(argv)
    if args.command == "check-config":
        return check_config(args.file, args.alertmanager)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = load_settings()
    except SettingsError as exc:
        parser.exit(2, f"alertflow: configuration error: {exc}\n")
    if args.command == "templates":
        return templates()
    if args.command == "tail":
        return tail_topic(settings, args.topic, from_beginning=args.from_beginning)
    if args.command == "eval":
        from app.learning.evaluation import run_eval

        return run_eval(args, settings)
    if args.command == "broker":
        return broker(settings)
    if args.command == "worker":
        return worker(settings)
    return run(settings)


def run(settings: Settings) -> int:
    """The embedded broker (unless ``KAFKA_BOOTSTRAP`` is set) and one worker; Ctrl-C stops both."""
    if settings.kafka_bootstrap:
        return worker(settings)
    from app.broker import embedded_broker

    with embedded_broker(settings.data_dir / "kafka", CACHE_DIR, EMBEDDED_BROKER_PORT) as kafka:
        kafka.start()
        return worker(settings)


def broker(settings: Settings) -> int:
    """Run the embedded broker in the foreground until Ctrl-C or SIGTERM."""
    from app.broker import embedded_broker

    with embedded_broker(settings.data_dir / "kafka", CACHE_DIR, EMBEDDED_BROKER_PORT) as kafka:
        bootstrap = kafka.start()
        _create_topics(bootstrap)
        print(f"Kafka is up at {bootstrap}; Ctrl-C stops it.", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


def worker(settings: Settings) -> int:
    """Create the topics if missing, then run one Faust worker until Ctrl-C."""
    from app.broker import wait_for_broker

    wait_for_broker(settings.bootstrap, timeout=60)
    _create_topics(settings.bootstrap)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    import faust

    from app.faust_app import app, load_modules

    try:
        load_modules()
    except SettingsError as exc:  # the routes: and dedup: sections, read by their modules
        print(f"alertflow: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        runner = faust.Worker(app, loglevel=settings.log_level)
        # From warning up Faust's terminal spinner sets the root logger to DEBUG, so every
        # debug record of Faust and aiokafka (one per message sent) is built, then dropped.
        runner.spinner = None
        runner.execute_from_commandline()
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def templates() -> int:
    """Assign each stdin line its template online, with the fingerprint agent's miner."""
    from agents.template_miner import TemplateMiner

    miner = TemplateMiner()
    for line in sys.stdin:
        template = miner.match(line.rstrip("\n"))
        sys.stdout.write(f"{template.id}\t{template.text}\n")
        sys.stdout.flush()
    return 0


def tail_topic(settings: Settings, topic: str, *, from_beginning: bool) -> int:
    """Print every record of ``topic`` as one JSON line, until Ctrl-C."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap,
            "group.id": f"alertflow-tail-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest" if from_beginning else "latest",
        }
    )
    consumer.subscribe([topic])
    try:
        while True:
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error():
                print(f"alertflow tail: {message.error()}", file=sys.stderr)
                continue
            sys.stdout.write((message.value() or b"null").decode("utf-8", "replace") + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 0
    finally:
        consumer.close()


def check_config(path: Path | None, alertmanager: Path | None = None) -> int:
    """Validate every file the worker would read; print all errors and warnings.

    Exit 0 when valid (warnings say what is accepted but not honoured), 2 on errors, 1 when
    there is nothing to check.
    """
    from app.config import check
    from app.config.routes import count

    env = dict(os.environ)
    if path is not None:
        env["ALERTFLOW_CONFIG"] = str(path)
    if alertmanager is not None:
        env["ALERTFLOW_ALERTMANAGER_CONFIG"] = str(alertmanager)
    if not env.get("ALERTFLOW_CONFIG") and not env.get("ALERTFLOW_ALERTMANAGER_CONFIG"):
        print(
            "alertflow check-config: name a file, or set ALERTFLOW_CONFIG or"
            " ALERTFLOW_ALERTMANAGER_CONFIG",
            file=sys.stderr,
        )
        return 1
    config, problems = check(env)
    for warning in problems.warnings:
        print(f"warning: {warning}")
    for error in problems.errors:
        print(f"error: {error}", file=sys.stderr)
    if config is None:
        print(f"alertflow check-config: {len(problems.errors)} error(s)", file=sys.stderr)
        return 2
    print(
        f"OK: version {config.version}; {count(config.route)} route(s); receivers:"
        f" {', '.join(config.receiver_sinks) or 'none'}; {len(config.inhibit_rules)} inhibit"
        f" rule(s); {len(config.escalations)} escalation policy(ies); {len(config.time_intervals)}"
        f" time interval(s); {len(problems.warnings)} warning(s)"
    )
    return 0


def _create_topics(bootstrap: str) -> None:
    from app.broker import ensure_topics
    from app.topics import partition_counts, topic_configs

    ensure_topics(bootstrap, partition_counts(), config=topic_configs())


if __name__ == "__main__":
    raise SystemExit(main())
