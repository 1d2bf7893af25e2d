"""Log and alert text templates: the online miner and the LogPai grouping-accuracy metric.

Pure, stdlib-only code; the fingerprint stage (:mod:`agents.fingerprint`) runs the miner per
tenant, ``alertflow templates`` runs it on stdin, ``scripts/eval-templates`` scores it.
"""

from app.templates.accuracy import grouping_accuracy
from app.templates.miner import WILDCARD, Template, TemplateMiner, tokenize

__all__ = ["WILDCARD", "Template", "TemplateMiner", "grouping_accuracy", "tokenize"]
