"""Replay: stepping event time through a scenario or a generated year, and publishing."""
