"""Retention-period keys: one key-encryption key per calendar month of purge dates, kept outside the
database, each sealed by the master key from settings (INVIGIL_KEYS): in files (INVIGIL_KEYSTORE_DIR), or,
when several machines share the data, as objects under a prefix of the object store (ObjectKeyStore).

A data key is wrapped by the period key of the month its data is due for purging. Once that month has
ended and no live data key is left under it, the period key's file is destroyed: from then on the wrapped
keys in any copy of the database taken earlier are noise too, even with the master key. Library code: no
app import, no ORM; proctor.keys decides what goes where.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botocore.exceptions import ClientError
from storages.utils import clean_name

from proctor import crypto
from proctor.storage import ObjectStorage, fsync_path

__all__ = [
    "PERIOD_GRACE",
    "KeyStore",
    "ObjectKeyStore",
    "PeriodKeyStore",
    "KeyStoreError",
    "PeriodKeyDestroyed",
    "is_period_id",
    "period_key_label",
    "period_end",
    "period_id_for",
]

#: A period key's id, also the KEK id inside every data key it wraps. Master key ids (settings.parse_keks)
#: cannot contain ":", so the two never collide.
_PERIOD_ID = re.compile(r"^period:(\d{4})-(\d{2})$")
_FILE_SUFFIX = ".key"
#: A period key is destroyed no sooner than this after its month ends, so a data key wrapped in the last
#: moments of the month (by another process, holding the key in memory) is stored before the check that
#: nothing live is left under it.
PERIOD_GRACE = timedelta(days=1)
#: Unwrapped period keys kept in memory. An entry is checked against its file (still there, same inode
#: and times) when it was last checked more than _RECHECK_SECONDS ago; destroying a file drops its entries
#: in this process at once. A stat costs more than the unwrap it saves, so it is not done on every use.
_CACHE_SIZE = 64
_RECHECK_SECONDS = 1.0
#: Conditional writes of a new period key tried while the store answers that another is under way.
_CREATE_ATTEMPTS = 50


class KeyStoreError(Exception):
    """The key store is missing, unreadable or holds a file that is not a period key; the message says which."""


class PeriodKeyDestroyed(crypto.DecryptionError):
    """The period key is not in the key store: destroyed by the retention job once its data was purged."""


def period_id_for(moment: datetime) -> str:
    """The id of the period holding purge date ``moment``: its calendar month in UTC."""
    if moment.tzinfo is None:
        raise ValueError("a period needs a timezone-aware date")
    utc = moment.astimezone(UTC)
    return f"period:{utc.year:04d}-{utc.month:02d}"


def is_period_id(kek_id: str) -> bool:
    return _PERIOD_ID.match(kek_id) is not None


def period_end(period_id: str) -> datetime:
    """The first instant after the period (the start of the next month, UTC)."""
    match = _PERIOD_ID.match(period_id)
    if match is None:
        raise ValueError(f"{period_id!r} is not a period id")
    year, month = int(match[1]), int(match[2])
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def period_key_label(period_id: str) -> bytes:
    # Binds the sealed file to its period: renaming a file to another month makes it fail to open.
    return f"invigil-period-key:{period_id}".encode()


# (path or s3:// name, master ring) -> (period ring, the file's identity or the object's ETag, when last checked)
_cache: OrderedDict[tuple[str, crypto.KeyRing], tuple[crypto.KeyRing, tuple[int | str, ...], float]] = OrderedDict()
_cache_lock = threading.Lock()


def _forget(name: str) -> None:
    """Drop the cached copies of one file's key in this process (it was destroyed or re-sealed)."""
    with _cache_lock:
        for cache_key in [k for k in _cache if k[0] == name]:
            del _cache[cache_key]


def _identity(info: os.stat_result) -> tuple[int, ...]:
    return (info.st_ino, info.st_dev, info.st_mtime_ns, info.st_ctime_ns, info.st_size)


def _file_name(period_id: str) -> str:
    """The name a period key is stored under, in a folder or under an object-store prefix."""
    if not is_period_id(period_id):
        raise ValueError(f"{period_id!r} is not a period id")
    return period_id.replace(":", "-") + _FILE_SUFFIX


def _periods_among(names: Iterable[str]) -> list[str]:
    """The period ids of the key files among ``names``, oldest first."""
    found = []
    for name in names:
        if name.startswith("period-") and name.endswith(_FILE_SUFFIX):
            period_id = "period:" + name[len("period-") : -len(_FILE_SUFFIX)]
            if is_period_id(period_id):
                found.append(period_id)
    return sorted(found)


class _PeriodKeys:
    """What both key stores share: finding, or making, a period's key."""

    def check(self) -> None:
        raise NotImplementedError

    def _where(self, period_id: str) -> str:
        raise NotImplementedError

    def _open(self, period_id: str, where: str) -> crypto.KeyRing:
        raise NotImplementedError

    def _create(self, period_id: str, where: str) -> None:
        raise NotImplementedError

    def ring(self, period_id: str, *, create: bool = False) -> crypto.KeyRing:
        """A key ring holding only this period's key; with ``create``, a fresh key is made if there is none."""
        where = self._where(period_id)
        try:
            return self._open(period_id, where)
        except FileNotFoundError:
            self.check()  # a missing store is a configuration error, not a destroyed key
            if not create:
                raise PeriodKeyDestroyed(
                    f"The period key {period_id!r} is not in the key store {self!r}: it was destroyed once "
                    "everything under it was purged (or the key store is not the one this database uses)."
                ) from None
        self._create(period_id, where)
        return self._open(period_id, where)


class KeyStore(_PeriodKeys):
    """The period keys in one directory, sealed by ``master`` (a ring of the keys from settings)."""

    def __init__(self, directory: Path | str, master: crypto.KeyRing) -> None:
        self.directory = Path(directory)
        self.master = master
        self._folder = os.fspath(self.directory)

    def __repr__(self) -> str:
        return f"KeyStore({str(self.directory)!r})"

    def _path(self, period_id: str) -> Path:
        return Path(self._name(period_id))

    def _name(self, period_id: str) -> str:
        # Plain strings: this runs on every decrypt, and pathlib costs more than the unwrap.
        return os.path.join(self._folder, _file_name(period_id))

    _where = _name

    def check(self) -> None:
        """Refuse a key store that is not a writable directory, saying which setting to fix."""
        if not self.directory.is_dir():
            raise KeyStoreError(
                f"The key store {self.directory} does not exist or is not a directory. Create it (mode 0700, "
                "owned by the user Invigil runs as) or set INVIGIL_KEYSTORE_DIR to the right place; without it "
                "no recording or identity profile can be encrypted or read."
            )
        if not os.access(self.directory, os.R_OK | os.W_OK | os.X_OK):
            raise KeyStoreError(f"The key store {self.directory} is not readable and writable by this process.")

    def periods(self) -> list[str]:
        """The ids of the period keys in the store, oldest first."""
        self.check()
        return _periods_among(path.name for path in self.directory.glob("period-*" + _FILE_SUFFIX))

    def _open(self, period_id: str, name: str) -> crypto.KeyRing:
        # Keyed by the master ring too, so another master key is never answered from memory.
        cache_key = (name, self.master)
        now = time.monotonic()
        with _cache_lock:
            entry = _cache.get(cache_key)
            if entry is not None and now - entry[2] < _RECHECK_SECONDS:
                _cache.move_to_end(cache_key)
                return entry[0]
        info = os.stat(name)
        if entry is not None and entry[1] == _identity(info):
            with _cache_lock:
                _cache[cache_key] = (entry[0], entry[1], now)
                _cache.move_to_end(cache_key)
            return entry[0]
        with open(name, "rb") as sealed_file:
            sealed = sealed_file.read()
        try:
            key = self.master.unwrap(sealed, label=period_key_label(period_id))
        except crypto.UnknownKeyError:
            raise
        except crypto.DecryptionError as exc:
            raise KeyStoreError(f"The period key file {name} is damaged or not a period key: {exc}") from None
        ring = crypto.KeyRing([(period_id, key)])
        with _cache_lock:
            _cache[cache_key] = (ring, _identity(info), now)
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        return ring

    def _create(self, period_id: str, where: str) -> None:
        path = Path(where)
        sealed = self.master.wrap(crypto.new_data_key(), label=period_key_label(period_id))
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, sealed)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            # A link, not a rename: it never replaces a key another process made meanwhile, whose data
            # keys would otherwise be lost.
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
        fsync_path(self.directory)

    def destroy(self, period_id: str) -> bool:
        """Overwrite and delete the period key's file; False when it was already gone."""
        path = self._path(period_id)
        self.check()
        _forget(self._name(period_id))
        try:
            fd = os.open(path, os.O_WRONLY)
        except FileNotFoundError:
            return False
        try:
            # Overwriting helps on plain disks; on SSDs and copy-on-write filesystems only the unlink is
            # certain, which is why the store must not be backed up for longer than the retention.
            os.write(fd, os.urandom(os.fstat(fd).st_size))
            os.fsync(fd)
        finally:
            os.close(fd)
        path.unlink(missing_ok=True)
        fsync_path(self.directory)
        return True

    def rewrap(self) -> int:
        """Seal every period key not yet under the master ring's primary key with it; the number done."""
        done = 0
        for period_id in self.periods():
            path = self._path(period_id)
            sealed = path.read_bytes()
            if crypto.kek_id_of(sealed) == self.master.primary_id:
                continue
            fresh = self.master.rewrap(sealed, label=period_key_label(period_id))
            temporary = path.with_name(f".{path.name}.{os.getpid()}.rewrap.tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, fresh)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, path)  # same key inside, so replacing is safe
            _forget(self._name(period_id))
            fsync_path(self.directory)
            done += 1
        return done

    def not_under_primary(self) -> int:
        return sum(crypto.kek_id_of(self._path(p).read_bytes()) != self.master.primary_id for p in self.periods())


def _status(err: ClientError) -> int:
    return int(err.response["ResponseMetadata"]["HTTPStatusCode"])


_PROBE_PERIOD = "period:0000-01"


class ObjectKeyStore(_PeriodKeys):
    """The period keys as objects under the prefix of ``storage`` (an object store every machine shares),
    sealed by ``master``, with the guarantees of KeyStore: a period key is created once even when machines
    race (a conditional PUT, If-None-Match: *, that only the first writer wins), and destroying one
    removes every version of its object."""

    def __init__(self, storage: ObjectStorage, master: crypto.KeyRing) -> None:
        self.storage = storage
        self.master = master
        self.bucket = storage.bucket_name
        self.client = storage.connection.meta.client

    def __repr__(self) -> str:
        return f"ObjectKeyStore({self.bucket!r}, {self.storage.location!r})"

    def _key(self, period_id: str) -> str:
        return str(self.storage._normalize_name(clean_name(_file_name(period_id))))

    _where = _key

    def check(self) -> None:
        """Refuse a bucket this process cannot list, saying which setting to fix."""
        try:
            # A listing, not HeadBucket: it needs only s3:ListBucket, a right the store needs anyway.
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._key(_PROBE_PERIOD), MaxKeys=1)
        except ClientError as err:
            raise KeyStoreError(
                f"The key store's bucket {self.bucket} cannot be reached ({err}). Check INVIGIL_KEYSTORE_BUCKET "
                "and the credentials' rights on it; without it no recording or identity profile can be "
                "encrypted or read."
            ) from None

    def periods(self) -> list[str]:
        """The ids of the period keys in the store, oldest first."""
        self.check()
        _, names = self.storage.listdir("")
        return _periods_among(names)

    def _get(self, key: str, *, unless_etag: str | None = None) -> tuple[bytes, str] | None:
        """The object's bytes and ETag; None when its ETag is still ``unless_etag`` (a 304, no body sent)."""
        conditions = {} if unless_etag is None else {"IfNoneMatch": unless_etag}
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key, **conditions)
        except ClientError as err:
            if _status(err) == 304:
                return None
            if _status(err) == 404:
                raise FileNotFoundError(f"No object {key} in bucket {self.bucket}.") from None
            raise
        with answer["Body"] as body:
            return bytes(body.read()), str(answer["ETag"])

    def _sealed(self, key: str) -> tuple[bytes, str]:
        found = self._get(key)
        if found is None:  # only a conditional read answers nothing
            raise KeyStoreError(f"The object store answered an unconditional read of {key} with no body.")
        return found

    def _open(self, period_id: str, key: str) -> crypto.KeyRing:
        # The cache is KeyStore's, keyed by bucket and key: the object is checked (one conditional GET,
        # no body when unchanged) when its entry was last checked more than _RECHECK_SECONDS ago.
        name = f"s3://{self.bucket}/{key}"
        cache_key = (name, self.master)
        now = time.monotonic()
        with _cache_lock:
            entry = _cache.get(cache_key)
        if entry is not None:
            if now - entry[2] < _RECHECK_SECONDS:
                return entry[0]
            found = self._get(key, unless_etag=str(entry[1][0]))
            if found is None:
                with _cache_lock:
                    _cache[cache_key] = (entry[0], entry[1], now)
                    _cache.move_to_end(cache_key)
                return entry[0]
        else:
            found = self._sealed(key)
        sealed, etag = found
        try:
            material = self.master.unwrap(sealed, label=period_key_label(period_id))
        except crypto.UnknownKeyError:
            raise
        except crypto.DecryptionError as exc:
            raise KeyStoreError(f"The period key object {name} is damaged or not a period key: {exc}") from None
        ring = crypto.KeyRing([(period_id, material)])
        with _cache_lock:
            _cache[cache_key] = (ring, (etag,), now)
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        return ring

    def _create(self, period_id: str, key: str) -> None:
        sealed = self.master.wrap(crypto.new_data_key(), label=period_key_label(period_id))
        for _ in range(_CREATE_ATTEMPTS):
            try:
                # Written only if no key is there: another machine's key, whose data keys would otherwise
                # be lost, is never replaced. The store must honour If-None-Match (AWS, MinIO, Ceph do).
                self.client.put_object(Bucket=self.bucket, Key=key, Body=sealed, IfNoneMatch="*")
                return
            except ClientError as err:
                if _status(err) == 412:  # another machine's key is there: use it
                    return
                if _status(err) != 409:  # 409: another machine's conditional write of it is under way
                    raise
            time.sleep(0.1)
        raise KeyStoreError(f"The period key {period_id!r} could not be created: the object store kept answering 409.")

    def destroy(self, period_id: str) -> bool:
        """Delete every version of the period key's object; False when it was already gone."""
        key = self._key(period_id)
        self.check()
        _forget(f"s3://{self.bucket}/{key}")
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            if _status(err) == 404:
                return False
            raise
        self.storage.delete(_file_name(period_id))
        return True

    def rewrap(self) -> int:
        """Seal every period key not yet under the master ring's primary key with it; the number done.
        The versions sealed by the older key are deleted, so retiring that key retires them too."""
        done = 0
        for period_id in self.periods():
            key = self._key(period_id)
            sealed, etag = self._sealed(key)
            if crypto.kek_id_of(sealed) == self.master.primary_id:
                continue
            fresh = self.master.rewrap(sealed, label=period_key_label(period_id))
            # Only over the version just read: a key destroyed meanwhile stays destroyed.
            written = self.client.put_object(Bucket=self.bucket, Key=key, Body=fresh, IfMatch=etag)
            self._delete_versions_but(key, written.get("VersionId"))
            _forget(f"s3://{self.bucket}/{key}")
            done += 1
        return done

    def _delete_versions_but(self, key: str, keep: str | None) -> None:
        if keep is None:  # an unversioned bucket keeps no older version
            return
        pages = self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=key)
        for page in pages:
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                if entry["Key"] == key and entry["VersionId"] != keep:
                    self.client.delete_object(Bucket=self.bucket, Key=key, VersionId=entry["VersionId"])

    def not_under_primary(self) -> int:
        return sum(crypto.kek_id_of(self._sealed(self._key(p))[0]) != self.master.primary_id for p in self.periods())


#: Either kind of key store: proctor.keys picks one from settings.
PeriodKeyStore = KeyStore | ObjectKeyStore
