"""Synthetic years calibrated to the seeds' published figures."""
