"""Notification receivers: one module each behind :class:`app.sinks.base.Sink`."""
