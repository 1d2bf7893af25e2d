"""The processes the bench starts (worker, receiver, Alertmanager) and stops, by their own PIDs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def status_of(url: str) -> int | None:
    """HTTP status of a GET, None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def rss_mb(pid: int) -> float:
    """Resident set size of a process and its children (a worker's parse processes): the sum
    of their ``VmRSS`` (/proc/<pid>/status) in MB."""
    return sum(_rss_mb(each) for each in with_children(pid))


def _rss_mb(pid: int) -> float:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0.0  # ended meanwhile
    for line in lines:
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0  # a zombie: ended, not yet waited for


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process and its children (running, or ended and waited for)
    used so far (/proc/<pid>/stat: utime, stime, cutime, cstime)."""
    ticks = 0
    for each in with_children(pid):
        try:
            ticks += sum(_stat(each)[11:15])
        except OSError:
            continue  # a child that ended meanwhile: its time is in the worker's cutime
    return ticks / os.sysconf("SC_CLK_TCK")


def main_thread_seconds(pid: int) -> float:
    """User + system CPU seconds of a process's main thread so far
    (/proc/<pid>/task/<pid>/stat): for a worker, its event loop with every stage."""
    return sum(_stat(pid, f"task/{pid}/stat")[11:13]) / os.sysconf("SC_CLK_TCK")


class MainThreadSampler:
    """Samples a process's main-thread CPU every ``interval`` seconds in a background thread:
    ``(perf_counter, CPU seconds)`` pairs, until :meth:`stop`."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.samples.append((time.perf_counter(), main_thread_seconds(self.pid)))
            except OSError:
                return  # the process ended

    def stop(self) -> list[tuple[float, float]]:
        """Stop sampling; the samples taken."""
        self._stop.set()
        self._thread.join(timeout=5)
        return self.samples


def with_children(pid: int) -> list[int]:
    """``pid`` and the processes it started that still run."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if _stat(int(stat.parent.name))[1] == pid:
                children.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue  # ended meanwhile
    return [pid, *children]


def _stat(pid: int, name: str = "stat") -> list[int]:
    """The numeric fields of /proc/<pid>/stat (or of another stat file under /proc/<pid>, such
    as a thread's) after the command name (index 1: parent pid)."""
    fields = Path(f"/proc/{pid}/{name}").read_text().rsplit(")", 1)[1].split()
    return [int(field) if field.lstrip("-").isdigit() else 0 for field in fields]


class Process:
    """A child process logging to a file, stopped with SIGINT then SIGKILL."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
        self.name, self.argv, self.log, self.env = name, argv, log, env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, ready_url: str, timeout: float = 120.0) -> None:
        """Start it and wait until ``ready_url`` answers 200."""
        self.launch()
        self.wait_ready(ready_url, timeout)

    def launch(self) -> None:
        """Start it, without waiting."""
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        """Whether it was started and has not exited."""
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, ready_url: str, timeout: float = 120.0) -> None:
        """Wait until ``ready_url`` answers 200."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while status_of(ready_url) != 200:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready in {timeout:.0f} s\n{self.tail()}")
            time.sleep(0.2)

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            text = ["(no log)"]
        return f"--- last lines of {self.log} ---\n" + "\n".join(text)

    def stop(self, timeout: float = 30.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# what a bench run may vary (the topics are created with it)
KEPT = ("ALERTFLOW_PARTITIONS", "ALERTFLOW_PARSE_PROCESSES")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the caller's ALERTFLOW_* (but KEPT) and KAFKA_*, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k in KEPT or not k.startswith(("ALERTFLOW_", "KAFKA_"))
    }
    return {**env, **extra}


def worker(
    bootstrap: str, data_dir: Path, webhook_url: str, config: Path | None = None
) -> tuple[Process, str]:
    """An ``alertflow worker`` (not yet started) and its base URL; ``config``: its
    ``ALERTFLOW_CONFIG``."""
    port = free_port()
    env = clean_env(
        KAFKA_BOOTSTRAP=bootstrap,
        ALERTFLOW_HTTP_PORT=str(port),
        ALERTFLOW_DATA_DIR=str(data_dir),
        ALERTFLOW_WEBHOOK_URL=webhook_url,
        ALERTFLOW_LOG_LEVEL="warning",
        **({"ALERTFLOW_CONFIG": str(config.resolve())} if config else {}),
    )
    argv = [str(REPO / ".venv" / "bin" / "alertflow"), "worker"]
    return Process("worker", argv, data_dir / f"worker-{port}.log", env), f"http://127.0.0.1:{port}"


def receiver(log_dir: Path) -> tuple[Process, str]:
    """The notification receiver (``receiver.py``), not yet started, and its base URL."""
    port = free_port()
    argv = [sys.executable, str(Path(__file__).with_name("receiver.py")), str(port)]
    return Process(
        "receiver", argv, log_dir / "receiver.log", clean_env()
    ), f"http://127.0.0.1:{port}"


def alertmanager(work_dir: Path) -> tuple[Process, str]:
    """Debian's Alertmanager with a receiver that sends nothing, not yet started; its URL."""
    port = free_port()
    config = work_dir / "alertmanager.yml"
    config.write_text('route: {receiver: "null"}\nreceivers: [{name: "null"}]\n')
    (work_dir / "am-data").mkdir(exist_ok=True)
    argv = [
        str(ALERTMANAGER),
        f"--config.file={config}",
        f"--storage.path={work_dir / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    return Process("alertmanager", argv, work_dir / "alertmanager.log", clean_env()), (
        f"http://127.0.0.1:{port}"
    )
