"""Scenario files and generated years: loading them, and checking their expectations."""
