"""Replays of the AIT alert data set (real IDS alerts of a multi-step attack, labelled) through
alertflow's stages and Alertmanager's grouping, scored against the ground truth
(``make eval-ait``; docs/ait.md)."""
