"""HTTP views, registered on the Faust app's web server."""

from app.web import feedback, ingest, models, ops, queries, silences, stream

__all__ = ["feedback", "ingest", "models", "ops", "queries", "silences", "stream"]
