"""The notify stage's rules: who is told what about an incident, and when.

Pure modules, one concept each (the agent is ``agents/notify.py``):

- :mod:`~app.notify.incident`: the bounded incident head (counts, capped samples, timeline);
- :mod:`~app.notify.member`: one row per alert, the alert view;
- :mod:`~app.notify.muting`: silences and inhibition;
- :mod:`~app.notify.plan`: which notifications are owed, in event time
  (:mod:`~app.notify.escalation` for escalation policies);
- :mod:`~app.notify.notification`: what a receiver gets;
- :mod:`~app.notify.nflog` and :mod:`~app.notify.retention`: the notification log, and how
  long rows are kept;
- :mod:`~app.notify.timers`: due times and orphaned sends;
- :mod:`~app.notify.feedback`: acknowledgements, resolutions and the labels they give;
- :mod:`~app.notify.step` and :mod:`~app.notify.events`: one call of the stage over the rows of
  a partition (no Kafka), alerts and ``notify.events`` records;
- :mod:`~app.notify.delivery`: the tasks that deliver and report back (the async edge).
"""
