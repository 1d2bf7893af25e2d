"""A tenant's model in table rows of bounded size (each under 64 kB).

The learner's JSON part (:meth:`~app.learning.model.Learner.meta`) goes in ``<tenant>|m``
(counts and the statistics of at most ``MAX_KINDS`` kinds) and ``<tenant>|ml`` (the digests of
the last examples learned, as one string); its River objects, pickled, in chunks of
``CHUNK_BYTES`` (``<tenant>|m|<n>``, base64), however many labels have grown the model's
weights (feature hashing bounds them at 2^18). A save writes only the chunks whose bytes
changed: learning one example moves a few weights, so most chunks stay as they were.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from app.learning.model import Learner, new_model
from app.runtime.state import RowAccess

CHUNK_BYTES = 40 * 1024  # of pickle per row: 54 kB as base64
DIGEST_CHARS = 12  # of an example's digest (app.learning.model)


def meta_key(tenant: str) -> str:
    """Row of a tenant model's JSON part and chunk count.

    >>> meta_key("acme"), chunk_key("acme", 2)
    ('acme|m', 'acme|m|2')
    """
    return f"{tenant}|m"


def chunk_key(tenant: str, number: int) -> str:
    """Row of one chunk of a tenant model's pickled River objects."""
    return f"{tenant}|m|{number}"


def learned_key(tenant: str) -> str:
    """Row of the digests of the examples a tenant's model learned last."""
    return f"{tenant}|ml"


class Model:
    """A tenant's learner, warm, and the chunks it was last saved as.

    >>> from app.runtime.state import MemoryRows
    >>> rows = MemoryRows()
    >>> model = Model.load(rows.get, "t", 0.35)
    >>> model.learner.learn({"id": "x", "kind": "k", "features": {"a": "b"}, "label": True,
    ...                      "weight": 1.0, "source": "ack", "at_ms": 1})
    True
    >>> model.save(rows, "t"); sorted(rows.data)
    ['t|m', 't|ml', 't|m|0']
    >>> Model.load(rows.get, "t", 0.35).learner.samples
    {'ack': 1}
    """

    def __init__(self, learner: Learner, chunks: list[str]) -> None:
        self.learner = learner
        self._chunks = chunks

    @classmethod
    def load(
        cls, get: Callable[[str], Any], tenant: str, threshold: float, model: str = "logistic"
    ) -> Model:
        """The tenant's model as its rows hold it (a fresh ``model`` without rows)."""
        meta = get(meta_key(tenant))
        if meta is None:
            return cls(Learner(threshold, model=new_model(model)), [])
        chunks = [get(chunk_key(tenant, n)) or "" for n in range(meta["chunks"])]
        blob = b"".join(base64.b64decode(chunk) for chunk in chunks)
        learned = (get(learned_key(tenant)) or {}).get("digests", "")
        digests = [learned[at : at + DIGEST_CHARS] for at in range(0, len(learned), DIGEST_CHARS)]
        state = {**meta["learner"], "learned": digests}
        return cls(Learner.restore(state, blob, threshold), chunks)

    def save(self, rows: RowAccess, tenant: str) -> None:
        """Write the JSON part and the chunks that changed since the last save."""
        blob = self.learner.blob()
        chunks = [
            base64.b64encode(blob[at : at + CHUNK_BYTES]).decode()
            for at in range(0, len(blob), CHUNK_BYTES)
        ]
        for number, chunk in enumerate(chunks):
            if number >= len(self._chunks) or self._chunks[number] != chunk:
                rows.put(chunk_key(tenant, number), chunk)
        for number in range(len(chunks), len(self._chunks)):
            rows.delete(chunk_key(tenant, number))
        meta = self.learner.meta()
        rows.put(learned_key(tenant), {"digests": "".join(meta.pop("learned"))})
        rows.put(meta_key(tenant), {"learner": meta, "chunks": len(chunks)})
        self._chunks = chunks


def read(get: Callable[[str], Any], tenant: str, threshold: float) -> Learner:
    """A tenant's learner as stored (for views that only read it)."""
    return Model.load(get, tenant, threshold).learner
