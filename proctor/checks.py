"""System checks for the privacy promises that depend on how the server is run."""

from __future__ import annotations

import ipaddress
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string
from storages.backends.s3 import S3Storage

IN_MEMORY_FILESYSTEMS = {"tmpfs", "ramfs"}


def filesystem_of(path: str) -> str | None:
    """The filesystem type of the mount holding ``path`` (Linux /proc/mounts), or None if unknown."""
    try:
        with open("/proc/mounts") as mounts:
            entries = [line.split()[1:3] for line in mounts if len(line.split()) >= 3]
    except OSError:
        return None
    real = os.path.realpath(path)
    best = max(
        (entry for entry in entries if real == entry[0] or real.startswith(entry[0].rstrip("/") + "/")),
        key=lambda entry: len(entry[0]),
        default=None,
    )
    return best[1] if best else None


@checks.register(checks.Tags.security, deploy=True)
def temporary_files_stay_in_memory(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """Daphne (Twisted) spools request bodies of 100 KB or more, such as identity photos, to a
    temporary file: the temporary folder must be in memory, or plaintext would touch disk."""
    folder = tempfile.gettempdir()
    kind = filesystem_of(folder)
    if kind in IN_MEMORY_FILESYSTEMS:
        return []
    return [
        checks.Error(
            f"The temporary folder {folder} is on {kind or 'an unknown filesystem'}, not in memory.",
            hint="Set TMPDIR to a tmpfs (for example /dev/shm, or a tmpfs mounted at /tmp) for Daphne.",
            id="invigil.E001",
        )
    ]


def data_endpoints() -> list[tuple[str, str]]:
    """Every place personal data is sent to or kept, as (what, host): the database, Redis (channel
    layer, Celery broker and results), the media store and the mail server. The server's own files
    and sockets are not listed."""
    found: list[tuple[str, str]] = []
    database = settings.DATABASES["default"]
    if not database["ENGINE"].endswith("sqlite3"):
        found.append(("The database", database.get("HOST") or "localhost"))
    redis = getattr(settings, "REDIS_URL", None)
    if redis and not redis.startswith("unix://"):
        found.append(("Redis (live updates and the task queue)", urlsplit(redis).hostname or "localhost"))
    media = settings.STORAGES["default"]
    # By class, not by name: Invigil's own ObjectStorage is one, and so would be any other subclass.
    if issubclass(import_string(media["BACKEND"]), S3Storage):
        options = media.get("OPTIONS", {})
        endpoint = options.get("endpoint_url")
        region = options.get("region_name") or "us-east-1"
        host = urlsplit(endpoint).hostname if endpoint else f"s3.{region}.amazonaws.com"
        found.append(("The media store (S3)", host or ""))
    if settings.EMAIL_BACKEND.endswith("smtp.EmailBackend"):
        found.append(("The mail server", settings.EMAIL_HOST))
    return found


def location_allowed(host: str, allowed: list[str]) -> bool:
    """Whether ``host`` is the server itself or matches one of ``allowed``: a host name, "*.domain"
    (the domain and every host under it) or an IP network."""
    host = host.strip("[]").lower().rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if host == "localhost" or (address is not None and address.is_loopback):
        return True
    for entry in (e.strip().lower().rstrip(".") for e in allowed):
        if not entry:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
        if entry.startswith("*."):
            domain = entry[2:]
            if host == domain or host.endswith("." + domain):
                return True
        elif host == entry:
            return True
    return False


@checks.register(checks.Tags.security, deploy=True)
def data_stays_where_allowed(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every endpoint that receives personal data is inside INVIGIL_DATA_LOCATIONS, the institution's
    promise of where its data is kept (in production the list must be set)."""
    allowed = list(settings.INVIGIL_DATA_LOCATIONS)
    if not allowed:
        if not settings.PRODUCTION:
            return []
        return [
            checks.Error(
                "INVIGIL_DATA_LOCATIONS is empty: nothing says where personal data may be kept or sent.",
                hint="List the hosts, domains (*.example.edu) or networks of the database, Redis, media and mail.",
                id="invigil.E003",
            )
        ]
    return [
        checks.Error(
            f"{what} is at {host}, outside the allowed data locations ({', '.join(allowed)}).",
            hint="Move the service, or, if the institution allows that place, add it to INVIGIL_DATA_LOCATIONS.",
            id="invigil.E002",
        )
        for what, host in data_endpoints()
        if not location_allowed(host, allowed)
    ]


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@checks.register(checks.Tags.security, deploy=True)
def keystore_kept_apart(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """The retention-period keys (INVIGIL_KEYSTORE_DIR) exist, and live apart from the database and the
    media: a backup that holds both the database and the period keys decrypts what was purged since."""
    if "keystore" in settings.STORAGES:
        return _object_keystore_kept_apart()
    store = Path(os.path.realpath(settings.INVIGIL_KEYSTORE_DIR))
    if not store.is_dir():
        return [
            checks.Error(
                f"The key store {store} (INVIGIL_KEYSTORE_DIR) does not exist.",
                hint="Create it (mode 0700, owned by the user Invigil runs as), on storage whose backups are "
                "kept no longer than the retention periods, apart from the database's and the media's.",
                id="invigil.E004",
            )
        ]
    places = []
    if settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage"):
        places.append(("the media folder", Path(os.path.realpath(settings.MEDIA_ROOT))))
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        places.append(("the SQLite database's folder", Path(os.path.realpath(database["NAME"])).parent))
    return [
        checks.Error(
            f"The key store {store} (INVIGIL_KEYSTORE_DIR) is inside {what} ({folder}), so backups of it "
            "would carry the keys that make purged data unreadable in older backups.",
            hint="Move INVIGIL_KEYSTORE_DIR to its own folder, backed up apart and kept no longer than the "
            "retention periods.",
            id="invigil.E005",
        )
        for what, folder in places
        if _inside(store, folder)
    ]


def _object_keystore_kept_apart() -> list[checks.CheckMessage]:
    """In the object store, the period keys' prefix must not hold, or lie inside, the media's or the audit
    anchors' in the same bucket (whose listings, copies and lifecycle rules would then take the keys too)."""
    keys = settings.STORAGES["keystore"]["OPTIONS"]
    prefix = keys["location"].strip("/") + "/"
    errors: list[checks.CheckMessage] = []
    for what, alias in (("the media", "default"), ("the audit anchors", "audit_anchors")):
        other = settings.STORAGES[alias]["OPTIONS"]
        if other.get("bucket_name") != keys["bucket_name"]:
            continue
        other_prefix = str(other.get("location", "")).strip("/") + "/"
        if other_prefix == "/" or prefix.startswith(other_prefix) or other_prefix.startswith(prefix):
            errors.append(
                checks.Error(
                    f"The key store's prefix {prefix} (INVIGIL_KEYSTORE_PREFIX) overlaps {what}'s "
                    f"({other_prefix}) in bucket {keys['bucket_name']}, so copies of it would carry the keys "
                    "that make purged data unreadable in older backups.",
                    hint="Give INVIGIL_KEYSTORE_PREFIX a prefix of its own (or INVIGIL_KEYSTORE_BUCKET a bucket "
                    "of its own), replicated or backed up apart and kept no longer than the retention periods.",
                    id="invigil.E005",
                )
            )
    return errors
