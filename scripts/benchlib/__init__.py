"""The pieces of ``scripts/bench``: the alert mix, Kafka probes, processes, HTTP load, reports."""
