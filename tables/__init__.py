"""One module per table; each is keyed like the stream of the one agent that writes it."""
