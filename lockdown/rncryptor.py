"""Decryption of password-protected .seb files: SEB encrypts them in RNCryptor's data format (version 3,
or 2 in older SEB versions; github.com/RNCryptor/RNCryptor-Spec): AES-256-CBC with keys drawn from the
password by PBKDF2-SHA1 (10,000 rounds), authenticated by HMAC-SHA256 over the header and ciphertext.
The password is used here and never kept."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

VERSIONS = (2, 3)
PASSWORD_OPTION = 1
ROUNDS = 10_000
HEADER_BYTES = 2 + 8 + 8 + 16
HMAC_BYTES = 32


class DecryptionFailed(ValueError):
    """Not RNCryptor v3 data, or not encrypted with this password (the two cannot be told apart)."""


def rncryptor_decrypt(data: bytes, password: str) -> bytes:
    if len(data) < HEADER_BYTES + 16 + HMAC_BYTES or data[0] not in VERSIONS or data[1] != PASSWORD_OPTION:
        raise DecryptionFailed("Not data encrypted with a password in RNCryptor's format.")
    encryption_salt, hmac_salt, iv = data[2:10], data[10:18], data[18:34]
    body, tag = data[:-HMAC_BYTES], data[-HMAC_BYTES:]
    secret = password.encode("utf-8")
    if data[0] == 2:
        # Version 2 took as many bytes of the UTF-8 password as it has UTF-16 units (its one bug,
        # which only a password with non-ASCII letters meets).
        secret = secret[: len(password.encode("utf-16-le")) // 2]
    encryption_key = hashlib.pbkdf2_hmac("sha1", secret, encryption_salt, ROUNDS, 32)
    hmac_key = hashlib.pbkdf2_hmac("sha1", secret, hmac_salt, ROUNDS, 32)
    if not hmac.compare_digest(hmac.new(hmac_key, body, hashlib.sha256).digest(), tag):
        raise DecryptionFailed("The password is not the one this file was saved with, or the file is damaged.")
    ciphertext = body[HEADER_BYTES:]
    if len(ciphertext) % 16:
        raise DecryptionFailed("The encrypted data is damaged.")
    decryptor = Cipher(algorithms.AES(encryption_key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise DecryptionFailed("The encrypted data is damaged.") from exc
