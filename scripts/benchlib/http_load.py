"""HTTP load: webhook posts at a fixed rate (latency), and batches as fast as accepted."""

from __future__ import annotations

import http.client
import queue
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

JSON = {"Content-Type": "application/json"}


class Client:
    """One keep-alive HTTP connection to ``base_url``."""

    def __init__(self, base_url: str) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST a JSON body; the status and the answer's body."""
        try:
            self.connection.request("POST", path, body, JSON)
            response = self.connection.getresponse()
        except (OSError, http.client.HTTPException):
            self.connection.close()  # reconnect once: the server may have closed an idle one
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.connection.request("POST", path, body, JSON)
            response = self.connection.getresponse()
        return response.status, response.read()


@dataclass
class Paced:
    """What a paced run did: when each alert id was posted, and the refused posts."""

    sent_at: dict[str, float] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    seconds: float = 0.0
    alerts: int = 0


def paced_posts(
    base_url: str, path: str, bodies: Sequence[bytes], per_second: float, threads: int = 8
) -> Paced:
    """POST ``bodies`` at ``per_second`` posts per second (on a fixed schedule, not closed-loop).

    Each alert id of a 202 answer is noted with the time its post began (perf_counter).
    """
    result, lock = Paced(), threading.Lock()
    due: queue.Queue[bytes | None] = queue.Queue()

    def send() -> None:
        client = Client(base_url)
        while (body := due.get()) is not None:
            began = time.perf_counter()
            status, answer = client.post(path, body)
            with lock:
                if status == 202:
                    ids = orjson.loads(answer)["ids"]
                    result.sent_at.update(dict.fromkeys(ids, began))
                    result.alerts += len(ids)
                else:
                    result.refused.append(f"{status} {answer[:200]!r}")

    senders = [threading.Thread(target=send, daemon=True) for _ in range(threads)]
    for sender in senders:
        sender.start()
    start = time.perf_counter()
    for index, body in enumerate(bodies):
        delay = start + index / per_second - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        due.put(body)
    for _ in senders:
        due.put(None)
    for sender in senders:
        sender.join()
    result.seconds = time.perf_counter() - start
    return result


def flood(
    base_url: str, path: str, bodies: Sequence[bytes], alerts_per_body: int, threads: int = 4
) -> tuple[float, int]:
    """POST every body as fast as the server accepts them, from ``threads`` connections.

    Returns accepted alerts per second and the number of refused posts.
    """
    pending: queue.Queue[bytes] = queue.Queue()
    for body in bodies:
        pending.put(body)
    accepted, refused, lock = [0], [0], threading.Lock()

    def send() -> None:
        client = Client(base_url)
        while True:
            try:
                body = pending.get_nowait()
            except queue.Empty:
                return
            status, _ = client.post(path, body)
            with lock:
                if status in (200, 202):
                    accepted[0] += alerts_per_body
                else:
                    refused[0] += 1

    senders = [threading.Thread(target=send, daemon=True) for _ in range(threads)]
    start = time.perf_counter()
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    return accepted[0] / (time.perf_counter() - start), refused[0]
