"""Settings come from the environment and fail loudly, naming the variable, on bad values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from proctor.env import Env
from proctor.settings import parse_keks

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k1:" + "A" * 43 + "="


def test_a_bool_accepts_the_usual_spellings() -> None:
    env = Env({"A": "yes", "B": "0", "C": "On"})
    assert (env.bool("A", False), env.bool("B", True), env.bool("C", False), env.bool("D", True)) == (
        True,
        False,
        True,
        True,
    )


def test_a_bad_bool_names_the_variable() -> None:
    with pytest.raises(ImproperlyConfigured, match="DEBUG must be true or false"):
        Env({"DEBUG": "maybe"}).bool("DEBUG", False)


def test_a_bad_number_names_the_variable() -> None:
    with pytest.raises(ImproperlyConfigured, match="EMAIL_PORT must be a whole number"):
        Env({"EMAIL_PORT": "25a"}).int("EMAIL_PORT", 25)
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        Env({"LOGIN_FAILURE_LIMIT": "0"}).int("LOGIN_FAILURE_LIMIT", 5, minimum=1)


def test_a_secret_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    assert Env({"SECRET_KEY_FILE": str(secret)}).str("SECRET_KEY") == "s3cret"


def test_a_missing_secret_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY_FILE points to .* cannot be read"):
        Env({"SECRET_KEY_FILE": str(tmp_path / "nope")}).str("SECRET_KEY")


def test_a_value_and_a_file_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="not both"):
        Env({"SECRET_KEY": "a", "SECRET_KEY_FILE": "/x"}).str("SECRET_KEY")


def test_a_required_value_that_is_missing_is_named() -> None:
    with pytest.raises(ImproperlyConfigured, match="S3_BUCKET must be set"):
        Env({}).str("S3_BUCKET")


def test_a_choice_lists_what_is_allowed() -> None:
    with pytest.raises(ImproperlyConfigured, match="MEDIA_STORAGE must be one of filesystem, s3"):
        Env({"MEDIA_STORAGE": "ftp"}).choice("MEDIA_STORAGE", ("filesystem", "s3"), "filesystem")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "at least one key"),
        ("nokey", "must look like ID:BASE64KEY"),
        ("k1:not base64!", "not valid base64"),
        ("k1:" + "QUFB", "3 bytes; AES-256 needs 32"),
        (f"{GOOD_KEY},{GOOD_KEY}", "appears twice"),
    ],
)
def test_bad_key_encryption_keys_are_refused(value: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_keks(value)


def test_key_encryption_keys_parse_in_order() -> None:
    keys = parse_keks(f"{GOOD_KEY}, k0:{'B' * 43}=")
    assert [kid for kid, _ in keys] == ["k1", "k0"]
    assert all(len(key) == 32 for _, key in keys)


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    keys = tmp_path / "keys"
    keys.write_text(GOOD_KEY)
    (tmp_path / "keystore").mkdir(exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "INVIGIL_ENV": "production",
        "INVIGIL_DATA_DIR": str(tmp_path),
        "SECRET_KEY": "x7" * 20 + "Qz9!kLm#pRt%",
        "ALLOWED_HOSTS": "exams.example.edu",
        "DATABASE_URL": "postgres://invigil:pw@db.example.edu:5432/invigil",
        "REDIS_URL": "redis://cache.example.edu:6379/0",
        "INVIGIL_KEYS_FILE": str(keys),
        "EMAIL_HOST": "smtp.example.edu",
        "INVIGIL_DATA_LOCATIONS": "*.example.edu",
        "DJANGO_SETTINGS_MODULE": "proctor.settings",
        "TMPDIR": "/dev/shm",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v != "<unset>"}


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_check_deploy_reports_no_warnings(tmp_path: Path) -> None:
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SECRET_KEY": "<unset>"}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be at least 50"),
        ({"ALLOWED_HOSTS": "<unset>"}, "ALLOWED_HOSTS must list"),
        ({"DATABASE_URL": "sqlite:///x.db"}, "Production needs PostgreSQL"),
        ({"DATABASE_URL": "mysql://u:p@h/d"}, "DATABASE_URL must be a postgres:// or sqlite:// URL"),
        ({"REDIS_URL": "<unset>"}, "Production needs Redis"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL must be a redis://"),
        ({"INVIGIL_KEYS_FILE": "<unset>"}, "INVIGIL_KEYS must be set"),
        ({"DEBUG": "true"}, "DEBUG must be off"),
        ({"MEDIA_STORAGE": "s3"}, "S3_BUCKET must be set"),
        ({"INVIGIL_KEYSTORE_PREFIX": "keys"}, "INVIGIL_KEYSTORE_PREFIX needs MEDIA_STORAGE=s3"),
        ({"EMAIL_HOST": "<unset>"}, "EMAIL_HOST"),
        ({"INVIGIL_ENV": "staging"}, "INVIGIL_ENV must be one of development, production"),
    ],
)
def test_production_refuses_to_start_with_a_bad_setting(
    tmp_path: Path, overrides: dict[str, str], message: str
) -> None:
    result = manage(production_env(tmp_path, **overrides), "check")
    assert result.returncode != 0
    assert message in result.stderr


def test_s3_media_storage_is_configured_from_the_environment(tmp_path: Path) -> None:
    env = production_env(tmp_path, MEDIA_STORAGE="s3", S3_BUCKET="exam-media", S3_ENDPOINT_URL="https://s3.example.edu")
    code = (
        "import django; django.setup(); from django.core.files.storage import storages; s = storages['default']; "
        "print(type(s).__name__, s.bucket_name, s.endpoint_url, s.default_acl)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ObjectStorage", "exam-media", "https://s3.example.edu", "private"]


def test_the_period_keys_go_to_the_object_store_under_their_own_prefix_when_one_is_set(tmp_path: Path) -> None:
    env = production_env(
        tmp_path,
        MEDIA_STORAGE="s3",
        S3_BUCKET="exam-media",
        INVIGIL_KEYSTORE_BUCKET="exam-keys",
        INVIGIL_KEYSTORE_PREFIX="invigil-keys",
    )
    code = (
        "import django; django.setup(); from proctor.keys import keystore; s = keystore(); "
        "print(type(s).__name__, s.bucket, s.storage.location)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ObjectKeyStore", "exam-keys", "invigil-keys"]


def test_check_deploy_refuses_a_temporary_folder_on_disk(tmp_path: Path) -> None:
    result = manage(production_env(tmp_path, TMPDIR=str(tmp_path)), "check", "--deploy")
    assert result.returncode != 0
    assert "invigil.E001" in result.stderr
    assert "not in memory" in result.stderr


@pytest.mark.parametrize(
    ("place", "code", "message"),
    [
        ("nowhere", "invigil.E004", "(INVIGIL_KEYSTORE_DIR) does not exist"),
        ("media/keys", "invigil.E005", "(INVIGIL_KEYSTORE_DIR) is inside the media folder"),
    ],
)
def test_check_deploy_refuses_a_key_store_that_is_missing_or_backed_up_with_the_media(
    tmp_path: Path, place: str, code: str, message: str
) -> None:
    if place != "nowhere":
        (tmp_path / place).mkdir(parents=True)
    result = manage(production_env(tmp_path, INVIGIL_KEYSTORE_DIR=str(tmp_path / place)), "check", "--deploy")
    assert result.returncode != 0
    assert code in result.stderr
    assert message in result.stderr


def test_the_filesystem_of_a_path_is_read_from_the_mount_table() -> None:
    from proctor.checks import filesystem_of

    assert filesystem_of("/dev/shm/anything") == "tmpfs"


@pytest.mark.parametrize(
    ("overrides", "outside"),
    [
        (
            {"DATABASE_URL": "postgres://invigil:pw@db.cloud-vendor.com:5432/invigil"},
            "The database is at db.cloud-vendor.com",
        ),
        ({"REDIS_URL": "redis://10.2.3.4:6379/0"}, "Redis (live updates and the task queue) is at 10.2.3.4"),
        ({"EMAIL_HOST": "smtp.mailer.example.com"}, "The mail server is at smtp.mailer.example.com"),
        (
            {"MEDIA_STORAGE": "s3", "S3_BUCKET": "media", "S3_REGION": "us-west-2"},
            "The media store (S3) is at s3.us-west-2.amazonaws.com",
        ),
        (
            {"MEDIA_STORAGE": "s3", "S3_BUCKET": "media", "S3_ENDPOINT_URL": "https://example.edu.evil.net"},
            "The media store (S3) is at example.edu.evil.net",
        ),
    ],
)
def test_check_deploy_fails_when_personal_data_would_leave_the_allowed_locations(
    tmp_path: Path, overrides: dict[str, str], outside: str
) -> None:
    result = manage(production_env(tmp_path, **overrides), "check", "--deploy")
    assert result.returncode != 0
    assert "invigil.E002" in result.stderr
    assert f"{outside}, outside the allowed data locations (*.example.edu)" in result.stderr


def test_check_deploy_accepts_endpoints_inside_networks_and_hosts_listed(tmp_path: Path) -> None:
    env = production_env(
        tmp_path,
        INVIGIL_DATA_LOCATIONS="*.example.edu,10.0.0.0/8,s3.eu-central-1.amazonaws.com",
        REDIS_URL="redis://10.2.3.4:6379/0",
        MEDIA_STORAGE="s3",
        S3_BUCKET="media",
        S3_REGION="eu-central-1",
    )
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr


def test_production_without_a_list_of_data_locations_fails_check_deploy(tmp_path: Path) -> None:
    result = manage(production_env(tmp_path, INVIGIL_DATA_LOCATIONS="<unset>"), "check", "--deploy")
    assert result.returncode != 0
    assert "invigil.E003" in result.stderr


def test_a_location_matches_hosts_domains_and_networks_only_as_listed() -> None:
    from proctor.checks import location_allowed

    allowed = ["*.example.edu", "db.partner.org", "192.168.0.0/16"]
    assert location_allowed("example.edu", allowed)
    assert location_allowed("s3.example.edu", allowed)
    assert location_allowed("DB.Partner.org.", allowed)
    assert location_allowed("192.168.4.5", allowed)
    assert location_allowed("localhost", allowed)
    assert location_allowed("::1", allowed)
    assert not location_allowed("badexample.edu", allowed)
    assert not location_allowed("example.edu.evil.net", allowed)
    assert not location_allowed("partner.org", allowed)
    assert not location_allowed("10.0.0.1", allowed)


def test_check_deploy_refuses_a_key_store_prefix_inside_the_media_prefix(tmp_path: Path) -> None:
    s3 = {
        "MEDIA_STORAGE": "s3",
        "S3_BUCKET": "media",
        "S3_PREFIX": "invigil",
        "S3_ENDPOINT_URL": "https://s3.example.edu",
    }
    result = manage(production_env(tmp_path, **s3, INVIGIL_KEYSTORE_PREFIX="invigil/keys"), "check", "--deploy")
    assert result.returncode != 0
    assert "invigil.E005" in result.stderr
    assert "(INVIGIL_KEYSTORE_PREFIX) overlaps the media's" in result.stderr
    apart = manage(production_env(tmp_path, **s3, INVIGIL_KEYSTORE_PREFIX="invigil-keys"), "check", "--deploy")
    assert "invigil.E005" not in apart.stderr
