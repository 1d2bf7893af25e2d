"""The configuration snapshot the HTTP views, the bridge and the heartbeat agent decide with.

One :class:`~app.config.Reloader` for them in each worker process (the notify stage keeps its
own), loaded on first use and re-read when a file's mtime changes, every
``notify.reload_interval``. A file that does not validate keeps the last good snapshot.
"""

from __future__ import annotations

from app.config import Config, Reloader
from app.faust_app import every

_reloader: Reloader | None = None


def current() -> Config:
    """The current snapshot (``ALERTFLOW_CONFIG`` / ``ALERTFLOW_ALERTMANAGER_CONFIG``)."""
    global _reloader
    if _reloader is None:
        _reloader = Reloader()
    return _reloader.current


@every(current().options.reload_interval_ms / 1000)
async def reload_current() -> None:
    """Pick up a changed file."""
    if _reloader is not None:
        _reloader.maybe_reload()
