"""Running a run's steps: commands (never through a shell) and HTTP calls, each with a timeout.

A command runs with :func:`asyncio.create_subprocess_exec` — the argv list as given, no shell —
in a fresh empty directory, its stdin closed, in a session of its own (so a timeout kills it
and whatever it started), with an environment made here, not the worker's: ``PATH``, ``LANG``,
``HOME`` (that directory), ``ALERTFLOW_RUN_ID``, ``ALERTFLOW_ACTION_PHASE``,
``ALERTFLOW_INCIDENT_ID`` and the step's own ``env``. The worker's secrets (API token, receiver
keys) are not passed on. It runs as the worker's user; the program must be on the allow-list and
must not be setuid or setgid, so nothing runs with more privilege than the worker.

An HTTP call sends ``Idempotency-Key: <run>:<phase>:<step>`` and ``X-Alertflow-Run-Id``, does
not follow redirects, and is 2xx or failed. Output and answers are kept to ``OUTPUT_BYTES`` each.
Steps run in order and stop at the first that fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import orjson

from app.actions.spec import allowed

OUTPUT_BYTES = 8192
_BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


async def run_steps(
    steps: Sequence[Mapping[str, Any]],
    *,
    session: aiohttp.ClientSession,
    timeout_s: float,
    allow: Sequence[str],
    run: Mapping[str, str],
    results: list[dict[str, Any]],
) -> dict[str, Any]:
    """Run ``steps`` in order, appending each result to ``results`` as it ends (so a caller
    that cancels the run still has what ran); the outcome of them all.

    ``run`` names the run (``id``, ``phase``, ``incident_id``) for keys and the environment.
    """
    started = time.monotonic()
    for index, step in enumerate(steps):
        if step["kind"] == "command":
            result = await run_command(step, timeout_s=timeout_s, allow=allow, run=run)
        else:
            key = f"{run['id']}:{run['phase']}:{index}"
            result = await call_http(session, step, timeout_s=timeout_s, key=key, run_id=run["id"])
        results.append(result)
        if not result["ok"]:
            break
    ok = len(results) == len(steps) and all(r["ok"] for r in results)
    timed_out = bool(results) and results[-1].get("timed_out", False)
    return {
        "ok": ok,
        "outcome": "succeeded" if ok else "timeout" if timed_out else "failed",
        "steps": results,
        "duration_ms": _ms_since(started),
    }


async def run_command(
    step: Mapping[str, Any], *, timeout_s: float, allow: Sequence[str], run: Mapping[str, str]
) -> dict[str, Any]:
    """Run one argv with a timeout; its exit code, output (truncated) and duration."""
    argv = [str(arg) for arg in step["argv"]]
    result: dict[str, Any] = {"kind": "command", "argv": argv, "ok": False, "exit_code": None}
    if (refused := allowed(argv[0], allow)) is not None:
        return {**result, "error": refused, "duration_ms": 0}
    workdir = tempfile.mkdtemp(prefix="alertflow-action-")
    env = {
        **_BASE_ENV,
        "HOME": workdir,
        "ALERTFLOW_RUN_ID": run["id"],
        "ALERTFLOW_ACTION_PHASE": run["phase"],
        "ALERTFLOW_INCIDENT_ID": run["incident_id"],
        **{str(k): str(v) for k, v in (step.get("env") or {}).items()},
    }
    started = time.monotonic()
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=workdir,
            start_new_session=True,
        )
    except OSError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        return {**result, "error": f"cannot start {argv[0]}: {exc.strerror}", "duration_ms": 0}
    assert process.stdout is not None and process.stderr is not None
    readers = [asyncio.create_task(_drain(stream)) for stream in (process.stdout, process.stderr)]
    try:
        async with asyncio.timeout(timeout_s):
            code = await process.wait()
        timed_out = False
    except TimeoutError:
        _kill(process)
        code, timed_out = await process.wait(), True
    except asyncio.CancelledError:  # the kill switch: the command goes with the run
        _kill(process)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    done, pending = await asyncio.wait(readers, timeout=1.0)
    for reader in pending:  # something it started holds the pipe open: stop listening
        reader.cancel()
    stdout, stderr = (r.result() if r in done else "" for r in readers)
    result.update(
        exit_code=code,
        ok=code == 0 and not timed_out,
        stdout=stdout,
        stderr=stderr,
        duration_ms=_ms_since(started),
    )
    if timed_out:
        result.update(timed_out=True, error=f"killed after the step timeout of {timeout_s:g}s")
    return result


async def call_http(
    session: aiohttp.ClientSession,
    step: Mapping[str, Any],
    *,
    timeout_s: float,
    key: str,
    run_id: str,
) -> dict[str, Any]:
    """One HTTP call; its status, answer (truncated) and duration."""
    body = step.get("body")
    data = body.encode() if isinstance(body, str) else None if body is None else orjson.dumps(body)
    headers = {
        "User-Agent": "alertflow",
        "Idempotency-Key": key,
        "X-Alertflow-Run-Id": run_id,
        **(
            {"Content-Type": "application/json"}
            if body is not None and not isinstance(body, str)
            else {}
        ),
        **step.get("headers", {}),
    }
    result: dict[str, Any] = {
        "kind": "http",
        "method": step["method"],
        "url": step["url"],
        "ok": False,
    }
    started = time.monotonic()
    try:
        async with session.request(
            step["method"],
            step["url"],
            data=data,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as answer:
            raw = await answer.content.read(OUTPUT_BYTES + 1)
            text = _text(raw[:OUTPUT_BYTES]) + (
                "… (the rest cut)" if len(raw) > OUTPUT_BYTES else ""
            )
            result.update(status=answer.status, ok=200 <= answer.status < 300, response=text)
    except TimeoutError:
        result.update(timed_out=True, error=f"no answer within the step timeout of {timeout_s:g}s")
    except aiohttp.ClientError as exc:
        result.update(error=f"{type(exc).__name__}: {exc}")
    result["duration_ms"] = _ms_since(started)
    return result


async def _drain(stream: asyncio.StreamReader) -> str:
    """Everything a pipe says, keeping the first ``OUTPUT_BYTES`` and counting the rest."""
    kept, extra = bytearray(), 0
    while chunk := await stream.read(65536):
        room = OUTPUT_BYTES - len(kept)
        kept += chunk[:room]
        extra += max(len(chunk) - room, 0)
    return _text(bytes(kept), extra)


def _text(raw: bytes, extra: int = 0) -> str:
    """Bytes as text, saying how many more were left out.

    >>> _text(b"ok"), _text(b"xy", 3)
    ('ok', 'xy… (3 more bytes cut)')
    """
    text = raw.decode("utf-8", "replace")
    return f"{text}… ({extra} more bytes cut)" if extra else text


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
