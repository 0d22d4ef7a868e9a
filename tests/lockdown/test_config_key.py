"""The Config Key of real .seb files equals the key published for them, and the per-URL hashes are
SEB's. Unreadable files are refused with a reason."""

from __future__ import annotations

import gzip
import hashlib
import plistlib
from pathlib import Path

import pytest

from lockdown.config_key import (
    MAX_SEB_BYTES,
    ConfigFileError,
    config_key,
    hash_matches,
    request_hash,
    seb_json,
    seb_settings,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "seb"

#: Published with the files (tests/fixtures/seb/README.md).
PUBLISHED = {
    "unencrypted_mac_001.seb": "4fa9af8ec8759eb7c680752ef4ee5eaf1a860628608fccae2715d519849f9292",
    "unencrypted_win_223.seb": "fc6f4ea5922717760f4d6d536c23b8d19bf20b52aa97940f5427a76e20f49026",
}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize(("name", "expected"), PUBLISHED.items())
def test_the_config_key_of_a_real_file_is_the_published_one(name: str, expected: str) -> None:
    assert config_key(seb_settings(fixture(name))) == expected


def test_the_seb_json_is_byte_for_byte_the_published_text() -> None:
    published = fixture("JSON_unencrypted_mac_001.txt").decode()
    assert seb_json(seb_settings(fixture("unencrypted_mac_001.seb"))) == published
    # Sorted without regard to case, backslashes left as they are, originatorVersion left out.
    assert '"allowedDisplayBuiltin":true,"allowedDisplaysMaxNumber":1,"allowFlashFullscreen"' in published
    assert '"ws:\\localhost:8706"' in published
    assert "originatorVersion" not in published


def test_the_version_of_seb_that_saved_the_file_does_not_change_the_key() -> None:
    with_version = seb_settings(fixture("simpleunencrypted.seb"))
    without = seb_settings(fixture("simpleunencryptedwithoutoriginator.seb"))
    assert "originatorVersion" in with_version
    assert "originatorVersion" not in without
    assert config_key(with_version) == config_key(without)
    assert '"aaaaaa":"1940-10-09T22:13:56+00:00"' in seb_json(without)  # a date, in ISO 8601


def test_a_compressed_file_with_the_plain_data_prefix_has_the_same_key() -> None:
    xml = fixture("unencrypted_mac_001.seb")
    wrapped = gzip.compress(b"plnd" + gzip.compress(xml))
    assert config_key(seb_settings(wrapped)) == PUBLISHED["unencrypted_mac_001.seb"]
    assert config_key(seb_settings(gzip.compress(xml))) == PUBLISHED["unencrypted_mac_001.seb"]


def test_empty_dictionaries_are_left_out_and_nested_ones_sorted() -> None:
    settings = {"b": {}, "a": {"Zeta": 1, "alpha": [{"y": 2, "X": 1}]}}
    assert seb_json(settings) == '{"a":{"alpha":[{"X":1,"y":2}],"Zeta":1}}'


def test_a_password_protected_file_is_read_with_its_password() -> None:
    # Both saved by the SEB Configuration Tool for Windows 2.3 with the same settings; password "test".
    decrypted = seb_settings(fixture("encrypted.seb"), "test")
    assert decrypted == seb_settings(fixture("unencrypted.seb"))
    assert decrypted["startURL"]


@pytest.mark.parametrize(
    ("password", "message"),
    [("", "protected by a password: give the password"), ("tset", "not the one this file was saved with")],
)
def test_a_password_protected_file_without_its_password_is_refused_with_what_to_do(password: str, message: str) -> None:
    with pytest.raises(ConfigFileError, match=message):
        seb_settings(fixture("encrypted.seb"), password)


def test_a_damaged_encrypted_file_is_refused() -> None:
    inner = gzip.decompress(fixture("encrypted.seb"))
    damaged = inner[:100] + bytes([inner[100] ^ 1]) + inner[101:]
    with pytest.raises(ConfigFileError, match="damaged"):
        seb_settings(gzip.compress(damaged), "test")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is not a configuration",
        b"<?xml This is some bad xml for sure.",
        b"\x1f\x8b\x08\x00garbage",
        plistlib.dumps(["a", "list", "not", "settings"]),
        gzip.compress(b"<" + b" " * (5 * 1024 * 1024)),
        b"<" + b" " * MAX_SEB_BYTES,
    ],
)
def test_a_file_that_is_not_a_configuration_is_refused(data: bytes) -> None:
    with pytest.raises(ConfigFileError):
        seb_settings(data)


def test_the_request_hash_is_the_url_without_its_fragment_followed_by_the_key() -> None:
    key = PUBLISHED["unencrypted_mac_001.seb"]
    url = "https://exams.example.edu/sessions/1/exam/?x=1"
    expected = hashlib.sha256((url + key).encode()).hexdigest()
    assert request_hash(url, key) == expected
    assert request_hash(url + "#question-3", key) == expected
    assert hash_matches(expected.upper(), url, key)
    assert not hash_matches(expected, url.replace("/1/", "/2/"), key)
    assert not hash_matches(expected, url, "0" * 64)
    assert not hash_matches("", url, key)
