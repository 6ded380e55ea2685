# mash: one image for workers and one-shot replays.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY mash ./mash
COPY consumers ./consumers
COPY schemas ./schemas
COPY scenarios ./scenarios
RUN pip install --no-cache-dir .
ENTRYPOINT []
CMD ["mash", "--help"]
