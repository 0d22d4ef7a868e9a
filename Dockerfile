# syntax=docker/dockerfile:1
#
# Invigil: one image for every process of a deployment (Daphne web server, Celery worker, Celery
# beat, migrations); docker-compose.yml picks the command. Build: `docker compose build`, or
# `docker build -t invigil:local .`.
#
# Two stages so that uv and its cache stay out of the final image. Both stages start from the same
# base, so the virtual environment's interpreter path (/usr/local/bin/python3.11) is the same in both.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- Stage 1: resolve nothing, install exactly what uv.lock says -----------------------------------
FROM ${PYTHON_IMAGE} AS deps

RUN pip install --no-cache-dir uv==0.13.9

# The lock is authoritative (--frozen: never re-resolve); dev tools (pytest, ruff, mypy...) stay out
# (--no-dev). Every dependency, dlib-bin and PyAV included, comes as a prebuilt manylinux wheel, so no
# compiler is needed. The project itself is not a package ([tool.uv] package = false), so only
# pyproject.toml and uv.lock are needed here, and this layer is rebuilt only when they change.
ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

# --- Stage 2: the runtime image ---------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

# No apt packages are installed, on purpose. `ldd` over every shared object in the locked virtual
# environment finds only libc, libm, libpthread, libdl, librt, libmvec, libresolv, libgcc_s,
# libstdc++ and libz outside it, all already in the slim base (libc6, libgcc-s1, libstdc++6, zlib1g).
# The wheels bundle the rest (OpenBLAS and libgfortran in numpy.libs and opencv_python_headless.libs,
# FFmpeg in av.libs, libpq in psycopg2_binary.libs). Nothing links libgomp, so libgomp1 is not needed;
# dlib-bin links nothing beyond libstdc++; opencv-python-headless needs no libGL. Health checks use
# Python's urllib, so no curl either. Checked for linux/amd64 wheels; if a dependency (or another
# platform's wheel) ever needs a system library, add it here with `apt-get install
# --no-install-recommends` and name the package that needs it.

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/app/.venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=proctor.settings \
    INVIGIL_DATA_DIR=/var/lib/invigil \
    MEDIA_ROOT=/var/lib/invigil/media \
    INVIGIL_KEYSTORE_DIR=/var/lib/invigil-keys \
    AUDIT_ANCHOR_DIR=/var/lib/invigil-audit-anchors \
    STATIC_ROOT=/app/staticfiles

# A fixed, unprivileged uid/gid so that secret files and volumes can be given to it on the host.
RUN groupadd --system --gid 10001 invigil \
    && useradd --system --uid 10001 --gid invigil --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin invigil \
    && install -d -o invigil -g invigil -m 0700 /var/lib/invigil /var/lib/invigil/media /var/lib/invigil-keys /var/lib/invigil-audit-anchors

WORKDIR /app
COPY --from=deps /app/.venv /app/.venv
COPY . .

# Static files are collected at build time, with harmless build-only settings: development mode
# (no secrets needed; the development key files it writes go to /tmp/build and are deleted in the
# same layer) and deploy/build_settings.py, which swaps in production's WhiteNoise manifest storage
# so the hashed names and staticfiles.json that production looks up exist. WhiteNoise serves them.
RUN DJANGO_SETTINGS_MODULE=deploy.build_settings INVIGIL_ENV=development INVIGIL_DATA_DIR=/tmp/build \
        python manage.py collectstatic --noinput \
    && rm -rf /tmp/build

USER invigil:invigil
EXPOSE 8000

CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "proctor.asgi:application"]
