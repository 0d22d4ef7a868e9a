"""Safe Exam Browser's keys, as SEB computes them: reading a .seb configuration file, its Config Key
(safeexambrowser.org/developer/seb-config-key.html) and the per-URL hashes SEB sends with each request.

Pure functions, no Django: bytes and strings in, strings out.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import plistlib
import zlib
from typing import Any
from xml.parsers.expat import ExpatError

from lockdown.rncryptor import DecryptionFailed, rncryptor_decrypt

#: The largest .seb file accepted, compressed or not. SEB's own files are a few tens of kilobytes.
MAX_SEB_BYTES = 512 * 1024
#: The most a compressed file may expand to: a small gzip bomb must not fill the memory.
MAX_SETTINGS_BYTES = 4 * 1024 * 1024

PLAIN_PREFIX = b"plnd"
PASSWORD_PREFIXES = (b"pswd", b"pwcc")
IDENTITY_PREFIXES = (b"pkhs", b"phsk")
GZIP_MAGIC = b"\x1f\x8b"

#: Keys that never count towards the Config Key: only the SEB version that saved the file.
EXCLUDED_KEYS = frozenset({"originatorVersion"})


class ConfigFileError(ValueError):
    """The file is not a Safe Exam Browser configuration Invigil can read; the message says why."""


def _gunzip(data: bytes) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_SETTINGS_BYTES + 1)
    except zlib.error as exc:
        raise ConfigFileError("The file looks compressed but cannot be read: it may be damaged.") from exc
    if len(out) > MAX_SETTINGS_BYTES:
        raise ConfigFileError("The file's settings are far larger than any Safe Exam Browser configuration.")
    return out


def seb_settings(data: bytes, password: str = "") -> dict[str, Any]:
    """The settings dictionary of a .seb file: an XML property list, plain or gzip-compressed with
    SEB's "plnd" (plain data) prefix, or encrypted with a password ("pswd"), which must then be given.
    Files encrypted for a certificate are refused with a message saying how to save a copy without."""
    if len(data) > MAX_SEB_BYTES:
        raise ConfigFileError(f"The file is larger than {MAX_SEB_BYTES // 1024} KB; a .seb file is far smaller.")
    if data.startswith(GZIP_MAGIC):
        data = _gunzip(data)
    prefix = data[:4]
    if prefix == PLAIN_PREFIX:
        data = data[4:]
    elif prefix in PASSWORD_PREFIXES:
        if not password:
            raise ConfigFileError(
                "This file is protected by a password: give the password with it (it is used once to read "
                "the settings and not kept), or upload a copy saved without one."
            )
        try:
            data = rncryptor_decrypt(data[4:], password)
        except DecryptionFailed as exc:
            raise ConfigFileError(str(exc)) from exc
    elif prefix in IDENTITY_PREFIXES:
        raise ConfigFileError(
            "This file is encrypted for a certificate. Save a copy without encryption in the SEB "
            "Configuration Tool and upload that copy."
        )
    if data.startswith(GZIP_MAGIC):
        data = _gunzip(data)
    if not data.lstrip().startswith(b"<"):
        raise ConfigFileError("This is not a Safe Exam Browser configuration file (.seb).")
    try:
        settings = plistlib.loads(data, fmt=plistlib.FMT_XML)
    except (plistlib.InvalidFileException, ExpatError, ValueError) as exc:
        raise ConfigFileError(
            "This is not a Safe Exam Browser configuration file: its settings cannot be read."
        ) from exc
    if not isinstance(settings, dict):
        raise ConfigFileError("This is not a Safe Exam Browser configuration file: it holds no settings.")
    return settings


def _sort_key(key: str) -> tuple[str, str]:
    # Case-insensitive, culture-invariant; keys differing only in case (which SEB no longer writes) put
    # the lower-case one first, as the published example does (allowWlan before allowWLAN).
    return key.lower(), key.swapcase()


def _string(text: str) -> str:
    # SEB-JSON escapes nothing but what JSON itself cannot carry: quotes and control characters. Slashes,
    # backslashes (URL filter rules) and non-ASCII letters stay as they are.
    out = []
    for char in text:
        if char == '"':
            out.append('\\"')
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, bytes):
        value = base64.b64encode(value).decode("ascii")
    elif isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        value = moment.astimezone(datetime.UTC).isoformat()
    if isinstance(value, str):
        return _string(value)
    raise ConfigFileError(f"A setting has a value of a kind SEB does not use ({type(value).__name__}).")


def _value(value: Any) -> str | None:
    """One value in SEB-JSON, or None for a value that is left out (an empty dictionary)."""
    if isinstance(value, list):
        items = [item for item in (_value(element) for element in value) if item is not None]
        return "[" + ",".join(items) + "]"
    if isinstance(value, dict):
        return _dictionary(value)
    return _scalar(value)


def _dictionary(settings: dict[str, Any]) -> str | None:
    members = []
    for key in sorted(settings, key=_sort_key):
        encoded = _value(settings[key])
        if encoded is not None:
            members.append(f"{_string(key)}:{encoded}")
    # Empty dictionaries are removed, as the algorithm says (old SEB versions wrote some).
    return "{" + ",".join(members) + "}" if members else None


def seb_json(settings: dict[str, Any]) -> str:
    """The SEB-JSON text the Config Key hashes: originatorVersion removed, dictionaries sorted by key at
    every level, no whitespace, data as base64, dates as ISO 8601 in UTC."""
    kept = {key: value for key, value in settings.items() if key not in EXCLUDED_KEYS}
    return _dictionary(kept) or "{}"


def config_key(settings: dict[str, Any]) -> str:
    """The Config Key of these settings: SHA-256 of their SEB-JSON, in lower-case hex."""
    return hashlib.sha256(seb_json(settings).encode("utf-8")).hexdigest()


def url_without_fragment(url: str) -> str:
    return url.split("#", 1)[0]


def request_hash(url: str, key: str) -> str:
    """What SEB sends for a request to ``url`` (or sets in its JavaScript API for a page at it): SHA-256
    of the absolute URL without its fragment followed by the key (a Config Key or Browser Exam Key)."""
    return hashlib.sha256((url_without_fragment(url) + key).encode("utf-8")).hexdigest()


def hash_matches(received: str, url: str, key: str) -> bool:
    """Whether ``received`` is the hash of ``url`` with ``key``, compared in constant time."""
    return hmac.compare_digest(received.strip().lower().encode(), request_hash(url, key).encode())
