# syntax=docker/dockerfile:1
# One image for every process of the company: API nodes (`serve --no-runs`), workers (`worker`),
# migrations (`db upgrade`) and the all-in-one `serve`. See "Running on several machines" in
# README.md and compose.yaml.
#
#   docker build -t the-company .                                     # CPU torch (the default)
#   docker build -t the-company:gpu --build-arg TORCH_INDEX_URL= .    # CUDA torch: pip's default
#                                                                     # index ships CUDA wheels
#   ... --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cuXYZ   # a given CUDA
#                                                 # (one that PyTorch lists for TORCH_VERSION)
#
# No secrets are baked in: the API key, the database URL and the model server come from the
# environment at run time (COMPANY_API_KEY, COMPANY_DATABASE_URL, OLLAMA_HOST, COMPANY_LLM).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: a virtualenv in /opt/venv with torch first, then the project's dependencies ----
FROM ${PYTHON_IMAGE} AS build

# torch is installed first and on its own, as scripts/setup.sh does: the CPU wheel by default
# (a plain `pip install torch` on Linux pulls GBs of CUDA libraries). An empty TORCH_INDEX_URL
# means pip's default index (CUDA wheels, for the GPU Whisper worker).
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

# (pinned: hadolint does not see the version through the variable)
# hadolint ignore=DL3013
RUN if [ -n "$TORCH_INDEX_URL" ]; then set -- --index-url "$TORCH_INDEX_URL"; fi \
    && pip install "torch==${TORCH_VERSION}" "$@"

WORKDIR /app

# The dependencies alone first (read from pyproject.toml), so a change to the sources does not
# reinstall them; torch stays pinned to the build above.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(deps))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt "torch==${TORCH_VERSION}"

# The project itself, editable: company/config.py finds config/, prompts/ and roles/ beside
# the package, so the source tree stays at /app.
COPY . /app
RUN pip install --no-deps -e /app \
    && python -c "import company.cli"

# ---- runtime: the virtualenv and the sources on a slim image, as a non-root user ----
FROM ${PYTHON_IMAGE} AS runtime

# libgomp1: llama.cpp's OpenMP (xllamacpp); libpq5: PostgreSQL's client library, for a
# psycopg built without its own copy; tini: PID 1 that forwards signals and reaps children.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 libpq5 tini \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 company \
    && useradd --system --uid 10001 --gid company --create-home --home-dir /home/company company

# The sources stay root's (read-only to the server); the user owns only what it writes: the
# workspace (runs' files, the SQLite store of the all-in-one mode) and the model cache (GGUF
# models, Whisper checkpoints), the two places to mount volumes on.
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
RUN mkdir -p /app/workspace /models \
    && chown company:company /app/workspace /models

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    COMPANY_MODELS_DIR=/models/company \
    XDG_CACHE_HOME=/models/cache \
    HOME=/home/company

WORKDIR /app
USER 10001:10001
EXPOSE 8000

# The health of an API node (GET /health on port 8000); compose.yaml gives the workers their
# own (`startup.py worker --check`) and turns it off for one-shot commands.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/deploy/healthcheck.py"]

ENTRYPOINT ["tini", "--", "python", "/app/startup.py"]
# The all-in-one server; it refuses to listen beyond loopback without COMPANY_API_KEY.
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
