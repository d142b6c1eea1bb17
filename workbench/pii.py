"""PII at rest: Fernet-encrypted columns with key rotation, keyed look-up hashes and masking.

The first key in FIELD_ENCRYPTION_KEYS encrypts; every key decrypts, so a new key can be put in front
and `manage.py rotate_pii_keys` re-encrypts the rows before the old key is dropped.
"""

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


@lru_cache(maxsize=4)
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def cipher() -> MultiFernet:
    return _cipher(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(value: str) -> str:
    return cipher().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return cipher().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("PII ciphertext cannot be decrypted with any key in FIELD_ENCRYPTION_KEYS.") from None


def rotate(token: str) -> str:
    """The same plaintext re-encrypted under the current first key."""
    return cipher().rotate(token.encode()).decode()


def lookup_hash(value: str) -> str:
    """A keyed hash for exact matching without decrypting (the blind index)."""
    normalized = value.strip().upper()
    return hmac.new(settings.PII_INDEX_KEY.encode(), normalized.encode(), hashlib.sha256).hexdigest()


def mask_mobile(mobile: str) -> str:
    """138****5678: the shape operators recognise; safe to store and show to every role."""
    if len(mobile) < 7:
        return "*" * len(mobile)
    return f"{mobile[:3]}{'*' * (len(mobile) - 7)}{mobile[-4:]}"


def mask_id_number(id_number: str) -> str:
    """330106**********1234 keeps the region code and the last four characters."""
    if len(id_number) < 10:
        return "*" * len(id_number)
    return f"{id_number[:6]}{'*' * (len(id_number) - 10)}{id_number[-4:]}"


class EncryptedTextField(models.TextField):
    """A text column holding Fernet ciphertext; Python code sees the plaintext.

    Never filter on it (ciphertexts differ for equal values): store a `lookup_hash` beside it.
    """

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)
