"""Large ingest requests parsed in a process of their own, beside the worker's event loop.

Splitting a request into the source's alerts, normalising and encoding them
(:func:`app.parsing.parse`) costs about 10 µs per alert; on the event loop the stages share,
a flood of webhooks took a third of it. A request whose body has at least ``POOL_BYTES`` is
parsed by a process of a pool instead (``ALERTFLOW_PARSE_PROCESSES``; 0 parses everything on
the loop), which also writes it to Kafka, as the bridge would, and sends back its ids once the
broker acknowledged it. Smaller requests are parsed on the loop and written by the bridge: for
them the hand-over would cost more than it saves. A pool process imports the parsers and
confluent-kafka and, as every spawned process does, the worker's main module (``app.cli``),
but not Faust, aiokafka or the stages: about 54 MB, and 13 MB more for multiprocessing's
resource tracker.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import Any

from app.bridge import REQUEST_TOPICS
from app.faust_app import app, at_start, settings
from app.parsing import Decided, Kafka, Result, Source, parse, serve

log = logging.getLogger(__name__)

POOL_BYTES = 64 * 1024  # a body this large (about 140 of the bench's alerts) goes to the pool
BREAKS = 3  # pools that broke before the worker parses everything on its loop
# multiprocessing's resource tracker outlives a killed worker to free the pool's semaphores,
# and warns of them in plain text on the worker's stderr, whose log is JSON: it is started
# with this filter (the kill itself is seen and logged by whoever killed the worker)
QUIET_TRACKER = "ignore::UserWarning:multiprocessing.resource_tracker"


class ParsePool:
    """Up to ``processes`` spawned processes that parse large bodies, started with the worker
    (or on the first large body); after ``BREAKS`` broken pools, or once stopped, every body
    is parsed on the event loop."""

    def __init__(self, processes: int) -> None:
        self._processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._breaks = 0
        self._stopped = False

    @property
    def running(self) -> bool:
        """Whether pool processes are started."""
        return self._pool is not None

    def start(self) -> ProcessPoolExecutor | None:
        """The running pool, spawned now if need be (each process takes a second or two to
        import the parsers); ``None`` when bodies are parsed on the loop. A pool that cannot
        start (no processes or semaphores left) counts as broken."""
        if self._pool is None and self._usable():
            self._pool = self._spawn()
        return self._pool

    async def parse(self, source: Source, body: bytes, decided: Decided, **options: Any) -> Result:
        """:func:`~app.parsing.parse` of the request: in the pool when ``body`` is large, where
        the process also writes it when ``decided.kafka`` says where; on the event loop,
        never (the bridge writes it)."""
        pool = self.start() if len(body) >= POOL_BYTES else None
        here = replace(decided, kafka=None)
        if pool is None:
            return parse(source, body, here, options)
        try:
            return await asyncio.get_running_loop().run_in_executor(
                pool, parse, source, body, decided, options
            )
        except BrokenProcessPool:  # a process died (killed, out of memory, failed to start)
            if self._pool is pool:
                self._close()
                self._broke("a process died")
                self.start()
            return parse(source, body, here, options)

    def stop(self) -> None:
        """Stop the processes once they finished what they were given; parse on the loop
        from now on."""
        self._stopped = True
        self._close()

    def _spawn(self) -> ProcessPoolExecutor | None:
        if QUIET_TRACKER not in sys.warnoptions:  # the tracker's and processes' -W options
            sys.warnoptions.append(QUIET_TRACKER)
        context = multiprocessing.get_context("spawn")  # no copy of the worker's threads
        kafka = Kafka(settings.bootstrap, REQUEST_TOPICS)  # what the ingest has it write
        initargs = (os.getpid(), settings.log_format, settings.log_level, kafka)
        pool: ProcessPoolExecutor | None = None
        try:
            pool = ProcessPoolExecutor(
                self._processes, context, initializer=serve, initargs=initargs
            )
            for _ in range(self._processes):
                pool.submit(int)  # the pool starts a process per task waiting, up to its size
        except (OSError, RuntimeError) as error:  # RuntimeError: BrokenProcessPool among them
            if pool is not None:
                pool.shutdown(wait=False)
            self._broke(f"could not start ({error})")
            return None
        return pool

    def _usable(self) -> bool:
        return self._processes > 0 and self._breaks < BREAKS and not self._stopped

    def _broke(self, what: str) -> None:
        self._breaks += 1
        then = "a new pool" if self._usable() else "every body is parsed on the event loop now"
        log.error("parse processes: %s (%d of %d breaks); %s", what, self._breaks, BREAKS, then)

    def _close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)


parse_pool = ParsePool(settings.parse_processes)


@at_start
async def _start_parse_pool() -> None:
    """The pool is ready before the first storm."""
    parse_pool.start()


@app.on_before_shutdown.connect
async def _stop_parse_pool(*_: Any, **__: Any) -> None:
    """Requests still being parsed finish; later ones are parsed on the loop."""
    parse_pool.stop()
