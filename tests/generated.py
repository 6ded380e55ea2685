"""A generated year of the 2013-14 preset, written where a test asks, for `replay_generated`."""

from __future__ import annotations

from pathlib import Path

from mash._generator.generate import BOROUGH_2013_14, Generator


def generated_year(directory: Path, scale: float, seed: int) -> Path:
    path = directory / f"borough-{scale:g}-{seed}.jsonl"
    Generator(BOROUGH_2013_14, seed=seed, scale=scale).write(path)
    return path
