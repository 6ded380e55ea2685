"""The training room: a facilitator and a room of trainees in their browsers (`mash room`)."""
