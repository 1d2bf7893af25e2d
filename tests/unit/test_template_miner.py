"""Template miner: masking, clustering, determinism, state round-trip, records, size bound."""

from __future__ import annotations

import json
import subprocess
import sys

import orjson
import pytest

from app.templates.accuracy import grouping_accuracy
from app.templates.masks import MASKS, Tokenizer
from app.templates.miner import MAX_RECORD_BYTES, WILDCARD, Template, TemplateMiner, tokenize
from tests.harness import REPO

W = WILDCARD


@pytest.mark.parametrize(
    ("message", "tokens"),
    [
        ("retry 42 of -7 took 3.14 units", ["retry", W, "of", W, "took", W, "units"]),
        ("addr 0x7f3a2c1d deadbeefcafe set", ["addr", W, "set"]),
        ("req 123e4567-e89b-12d3-a456-426614174000 done", ["req", W, "done"]),
        ("from 10.0.0.7:8080 to host", ["from", W, "to", "host"]),
        ("peer [fe80::1%eth0]:443 up", ["peer", W, "up"]),
        ("mac aa:bb:cc:dd:ee:ff up", ["mac", W, "up"]),
        ("open /var/log/syslog failed", ["open", W, "failed"]),
        (r"open C:\Windows\System\drivers failed", ["open", W, "failed"]),
        ("GET https://api.example.com/users ok", ["GET", W, "ok"]),
        ("mail to bob@example.com bounced", ["mail", "to", W, "bounced"]),
        ("db.example.com:5432 refused", [W, "refused"]),
        ("took 250ms then 1.5s", ["took", W, "then", W]),
        ("wrote 5.2 KB to disk", ["wrote", W, "to", "disk"]),
        ("at 2024-03-01T12:00:05.123Z ok", ["at", W, "ok"]),
        ("at Jul  1 09:00:55 ok", ["at", W, "ok"]),
        ("at Fri Jul 01 08:16:53 PDT 2005 ok", ["at", W, "ok"]),
        ("KeyError: 'user_id'", ["KeyError:", W]),
        ("enabled true", ["enabled", W]),
        ("uid=0 name=bob", ["uid=" + W, "name=bob"]),
        ("job job_1445144423722_0020 failed", ["job", W, "failed"]),
        ("instruction......0 core.2275", ["instruction......" + W, "core." + W]),
        ("", []),
    ],
)
def test_every_masking_rule(message: str, tokens: list[str]) -> None:
    assert Tokenizer(frozenset(MASKS))(message) == tokens


@pytest.mark.parametrize(
    ("message", "tokens"),
    [
        ("from 10.0.0.7:8080 to host", ["from", W, "to", "host"]),
        ("GET https://api.example.com/users ok", ["GET", W, "ok"]),
        ("mail to bob@example.com bounced", ["mail", "to", W, "bounced"]),
        ("at Jul  1 09:00:55 ok", ["at", W, "ok"]),
        ("job job_1445144423722_0020 took 3 of 7 ms", ["job", W, "took", W, "of", W, "ms"]),
        ("open /var/log/syslog failed", ["open", "/var/log/syslog", "failed"]),
        ("uid=0 name=bob", [W, "name=bob"]),
        ("KeyError: 'user_id'", ["KeyError:", "'user_id'"]),
    ],
)
def test_default_masks(message: str, tokens: list[str]) -> None:
    """The rules the evaluation chose: syntax masks, then any token with a digit is a value."""
    assert tokenize(message) == tokens


def test_unknown_mask_is_refused() -> None:
    with pytest.raises(ValueError, match="no_such_rule"):
        TemplateMiner(masks=["digits", "no_such_rule"])


def test_same_shape_same_id_while_template_generalises() -> None:
    miner = TemplateMiner()
    first = miner.match("Invalid user alice from 10.1.2.3")
    second = miner.match("Invalid user bob from 172.16.0.9")
    third = miner.match("Invalid user carol from 10.9.9.9")
    assert first.text == "Invalid user alice from <*>"
    assert second == third == Template(first.id, "Invalid user <*> from <*>")


def test_absorb_joins_values_of_variable_length() -> None:
    miner = TemplateMiner(masks=MASKS, absorb=True)
    ids = {
        miner.match(message).id
        for message in [
            "reverse mapping for ns.example.com [1.2.3.4] failed - POSSIBLE BREAK-IN!",
            "reverse mapping for 5-6-7-8.dsl.example.net [5.6.7.8] failed - POSSIBLE BREAK-IN!",
            "proxy:5070 close, 0 bytes sent, 403 bytes (1.2 KB) received, lifetime <1 sec",
            "proxy:5070 close, 1190 bytes (1.16 KB) sent, 815 bytes received, lifetime 00:02",
        ]
    }
    assert len(ids) == 2


@pytest.mark.parametrize(
    "messages",
    [
        ["Link error", "Link ok"],
        ["Accepted password for root from 1.2.3.4", "Failed password for root from 1.2.3.4"],
        ["VM Started on host", "VM Stopped on host"],
        ["session opened for user bob", "connection closed by peer after timeout"],
        [
            "Task transitioned from NEW to SCHEDULED now",
            "Task transitioned from SCHEDULED to RUNNING now",
        ],
        ["auth failure rhost=1.2.3.4", "auth failure rhost=1.2.3.4 user=root"],
    ],
)
def test_different_messages_get_different_ids(messages: list[str]) -> None:
    miner = TemplateMiner()
    assert len({miner.match(message).id for message in messages}) == len(messages)


def _stream() -> list[str]:
    users = ["root", "admin", "oracle", "test", "guest"]
    messages = ["p q a b c d", "p q a b e f"]  # two templates that tie for "p q a b c f"
    for i in range(600):
        user = users[i * 7 % len(users)]
        messages += [
            f"Failed password for {user} from 10.0.{i % 256}.{i % 7} port {40000 + i} ssh2",
            f"Accepted publickey for {user} from host-{i % 13}.example.org port {i} ssh2",
            f"worker {i % 5} processed {i * 3} items in {i % 90}ms",
            f"Disk /dev/sd{'abc'[i % 3]}{i % 4} usage {i % 100}% on node-{i % 11}",
            f"{['GET', 'POST'][i % 2]} /api/v{i % 3}/items/{i} returned {200 + i % 5}",
            f"reverse mapping for {['ns.example.com', f'h{i}.example.net'][i % 2]} [1.2.{i}.9]",
            f"shape {i % 40} " + " ".join(f"word{chr(97 + j % 26)}" for j in range(i % 9)),
        ]
    return [*messages, "p q a b c f"]


def test_deterministic_across_miners_and_processes() -> None:
    messages = _stream()[:700]
    ours = [(t.id, t.text) for t in map(TemplateMiner().match, messages)]
    assert ours == [(t.id, t.text) for t in map(TemplateMiner().match, messages)]
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); from app.templates.miner import "
        "TemplateMiner; m = TemplateMiner(); "
        "print(json.dumps([[t.id, t.text] for t in map(m.match, json.load(sys.stdin))]))"
    )
    miner_dir = str(REPO)
    for seed in ("0", "12345"):
        done = subprocess.run(
            [sys.executable, "-c", script, miner_dir],
            input=json.dumps(messages),
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed},
        )
        assert [tuple(pair) for pair in json.loads(done.stdout)] == ours


def _assert_plain_json(value: object) -> None:
    if isinstance(value, dict):
        assert all(isinstance(key, str) for key in value)
        for item in value.values():
            _assert_plain_json(item)
    elif isinstance(value, list):
        for item in value:
            _assert_plain_json(item)
    else:
        assert value is None or isinstance(value, str | int | float | bool)


@pytest.mark.parametrize("max_clusters", [1000, 8])
def test_state_round_trip_mid_stream_equals_uninterrupted_run(max_clusters: int) -> None:
    messages = _stream()
    reference = TemplateMiner(max_clusters=max_clusters)
    expected = [reference.match(message) for message in messages]
    for cut in (1, 37, 1000, len(messages) - 1):
        miner = TemplateMiner(max_clusters=max_clusters)
        got = [miner.match(message) for message in messages[:cut]]
        state = miner.to_state()
        _assert_plain_json(state)
        restored = TemplateMiner.from_state(orjson.loads(orjson.dumps(state)))
        got += [restored.match(message) for message in messages[cut:]]
        assert got == expected
        assert restored.to_state() == reference.to_state()


def test_state_written_before_masks_were_configurable_still_restores() -> None:
    config = {"similarity": 0.8, "min_agree": 3, "prefix": 2, "max_clusters": 9, "max_tokens": 9}
    cluster = ["0123456789ab", 4, [[0, "Invalid user <*> from <*>"]]]
    state = {"version": 1, "config": config, "seq": 1, "clusters": [cluster]}
    restored = TemplateMiner.from_state(state)
    assert restored.match("Invalid user eve from 10.0.0.1").id == "0123456789ab"
    assert restored.max_clusters == 9


def test_from_state_rejects_unknown_version() -> None:
    state = TemplateMiner().to_state() | {"version": 999}
    with pytest.raises(ValueError, match="version"):
        TemplateMiner.from_state(state)


def test_size_bound_evicts_least_recently_used() -> None:
    miner = TemplateMiner(max_clusters=5)
    kept = miner.match("heartbeat from service alpha ok")
    for i in range(50):
        miner.match(f"event{'abcdefghijklmnopqrstuvwxyz'[i % 26]} {'x' * (i // 26 + 1)} happened")
        miner.match("heartbeat from service alpha ok")  # stays recently used
        assert len(miner) <= 5
        assert len(miner.to_state()["clusters"]) <= 5
    clusters = {
        cluster_id: (count, variants)
        for cluster_id, count, variants in miner.to_state()["clusters"]
    }
    assert clusters[kept.id][0] == 51  # never evicted, so its count survived
    assert "eventa x happened" not in {
        text for _, variants in clusters.values() for _, text in variants
    }
    assert miner.match("eventa x happened").id == TemplateMiner().match("eventa x happened").id


def test_grouping_accuracy() -> None:
    assert grouping_accuracy(["a", "a", "b"], [1, 1, 2]) == 1.0
    assert grouping_accuracy(["a", "a", "b"], [1, 1, 1]) == 0.0
    assert grouping_accuracy(["a", "a", "b"], [1, 2, 3]) == pytest.approx(1 / 3)


@pytest.mark.parametrize("max_clusters", [1000, 8])
def test_records_round_trip_mid_stream_equals_uninterrupted_run(max_clusters: int) -> None:
    messages = _stream()
    reference = TemplateMiner(max_clusters=max_clusters)
    expected = [reference.match(message) for message in messages]
    for cut in (1, 37, 1000, len(messages) - 1):
        miner = TemplateMiner(max_clusters=max_clusters)
        got = [miner.match(message) for message in messages[:cut]]
        records = [(cid, orjson.loads(orjson.dumps(r))) for cid, r in miner.clusters()]
        restored = TemplateMiner.from_clusters(reversed(records), **miner.config())
        got += [restored.match(message) for message in messages[cut:]]
        assert got == expected
        assert list(restored.clusters()) == list(reference.clusters())


def test_changes_keep_a_store_equal_to_the_miner() -> None:
    """Upserting what take_changes reports and deleting what it evicts mirrors the miner."""
    messages = _stream()
    reference = TemplateMiner(max_clusters=8)
    miner = TemplateMiner(max_clusters=8, track_changes=True)
    store: dict[str, dict[str, object]] = {}
    for message in messages:
        assert miner.match(message) == reference.match(message)
        changed, evicted = miner.take_changes()
        assert not changed.keys() & evicted
        store.update(changed)
        for cluster_id in evicted:
            del store[cluster_id]
        assert store.keys() == {cluster_id for cluster_id, _ in miner.clusters()}
    assert {cid: r["variants"] for cid, r in store.items()} == {
        cid: r["variants"] for cid, r in miner.clusters()
    }
    assert TemplateMiner().take_changes() == ({}, set())  # untracked: nothing remembered


def test_record_size_is_bounded() -> None:
    """Long messages of control and astral characters, stretched over every allowed length."""
    words = [
        "\x01" * 7 + "\U0001f600" * 5 + chr(97 + i % 26) + chr(97 + i // 26) for i in range(300)
    ]
    miner = TemplateMiner(masks=MASKS, absorb=True, max_tokens=1000)
    for length in range(250, 280):
        miner.match(" ".join(["head", *words[:length], "7"]))
    sizes = [len(orjson.dumps(record)) for _, record in miner.clusters()]
    assert max(sizes) <= MAX_RECORD_BYTES
    assert max(sizes) > MAX_RECORD_BYTES / 8  # the input did stress the bound
    assert all(len(record["variants"]) <= 4 for _, record in miner.clusters())
