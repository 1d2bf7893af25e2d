"""The one error every source parser raises: what the HTTP answer and the dead letter say."""

from __future__ import annotations


class SourceError(Exception):
    """Input a source parser refuses, with the HTTP status and error code to answer it with.

    ``status`` is 400 (malformed or invalid), 401 (bad signature), 413 (too large) or 415
    (unsupported encoding); ``code`` is a short machine code; ``detail`` names the field at fault.
    """

    def __init__(self, code: str, detail: str, *, status: int = 400) -> None:
        super().__init__(f"{code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
