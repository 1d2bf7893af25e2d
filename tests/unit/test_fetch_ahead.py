"""A stage stops fetching by the bytes it holds, not the messages (app.runtime.fetch_ahead)."""

from __future__ import annotations

from types import SimpleNamespace

from mode.utils.queues import FlowControlEvent

from app.faust_app import app, load_modules
from app.runtime.fetch_ahead import HIGH_BYTES, BytesAhead


def _event(size: int) -> SimpleNamespace:
    return SimpleNamespace(message=SimpleNamespace(value=b"x" * size))


def _queue() -> BytesAhead:
    return BytesAhead(1000, maxsize=4096, flow_control=FlowControlEvent())


def test_every_stage_buffers_in_bytes() -> None:
    load_modules()
    stages = list(app.agents.values())
    assert len(stages) >= 8
    for stage in stages:
        queue = stage.channel.queue
        assert isinstance(queue, BytesAhead), stage.name
        assert queue.high_bytes == HIGH_BYTES


def test_many_small_messages_do_not_stop_fetching() -> None:
    queue = BytesAhead(1000, maxsize=64, flow_control=FlowControlEvent())
    for _ in range(60):  # past Faust's own mark for 64 messages (51)
        queue.put_nowait(_event(1))
    assert queue.qsize() >= queue.pressure_high_size
    assert queue.in_pressure_high_state(lambda: None) is False


def test_a_partition_stops_at_high_bytes_and_fetches_again_below_the_drop_mark() -> None:
    queue = _queue()
    resumed: list[str] = []

    def resume() -> None:
        resumed.append("p0")

    for _ in range(4):
        queue.put_nowait(_event(300))
    assert queue.bytes == 1200
    assert queue.in_pressure_high_state(resume) is True
    assert queue.in_pressure_high_state(resume) is False  # already stopped
    queue.get_nowait()  # Faust endorses a drop before each get
    queue.get_nowait()
    queue.get_nowait()  # 600 bytes waited before it
    assert resumed == []
    assert queue.bytes == 300
    queue.maybe_endorse_pressure_drop()  # 300 ≤ 400: fetch again
    assert resumed == ["p0"]
    queue.get_nowait()
    assert queue.bytes == 0


def test_clear_forgets_the_bytes() -> None:
    queue = _queue()
    queue.put_nowait(_event(500))
    queue.clear()
    assert queue.bytes == 0
