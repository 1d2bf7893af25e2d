"""HTTP views, registered on the Faust app's web server."""

from app.web import feedback, ingest, ops, queries

__all__ = ["feedback", "ingest", "ops", "queries"]
