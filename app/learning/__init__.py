"""Online learning from acknowledgements: features, labels, the per-tenant model, evaluation.

Pure parts only: the agents ``score`` and ``labels`` wrap them in thin loops, and
``alertflow eval`` replays a recorded stream through the very same functions.
"""
