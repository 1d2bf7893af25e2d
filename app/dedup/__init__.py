"""Deduplication rules: one alert per firing episode (pure functions, no Kafka)."""
