"""Settings read from the environment that fail loudly on bad values.

Every secret can also be given as ``<NAME>_FILE``, the path of a file holding the value (Docker and
Kubernetes secrets). A bad value stops the process at start with the variable's name, never later.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Env:
    """Typed access to a mapping of environment variables (``os.environ`` unless given one)."""

    def __init__(self, environ: Mapping[builtins.str, builtins.str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def raw(self, name: builtins.str) -> builtins.str | None:
        """The value of ``name``, or of the file named by ``name_FILE``; None when neither is set."""
        value = self.environ.get(name)
        file_name = self.environ.get(f"{name}_FILE")
        if value is not None and file_name is not None:
            raise ImproperlyConfigured(f"Set {name} or {name}_FILE, not both.")
        if file_name is not None:
            path = Path(file_name)
            try:
                return path.read_text().strip()
            except OSError as exc:
                raise ImproperlyConfigured(
                    f"{name}_FILE points to {file_name!r}, which cannot be read: {exc.strerror}."
                ) from exc
        return value

    def str(self, name: builtins.str, default: builtins.str | None = None) -> builtins.str:
        value = self.raw(name)
        if value is None or value == "":
            if default is None:
                raise ImproperlyConfigured(f"{name} must be set.")
            return default
        return value

    def optional_str(self, name: builtins.str) -> builtins.str | None:
        value = self.raw(name)
        return value or None

    def bool(self, name: builtins.str, default: builtins.bool) -> builtins.bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ImproperlyConfigured(f"{name} must be true or false (1/0, yes/no, on/off), not {value!r}.")

    def int(self, name: builtins.str, default: builtins.int, *, minimum: builtins.int | None = None) -> builtins.int:
        value = self.raw(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}.")
        return number

    def list(
        self, name: builtins.str, default: builtins.list[builtins.str] | None = None
    ) -> builtins.list[builtins.str]:
        value = self.raw(name)
        if value is None:
            return list(default or [])
        return [item.strip() for item in value.split(",") if item.strip()]

    def choice(self, name: builtins.str, choices: tuple[builtins.str, ...], default: builtins.str) -> builtins.str:
        value = self.str(name, default).strip().lower()
        if value not in choices:
            raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}.")
        return value

    def parsed(self, name: builtins.str, parse: Callable[[builtins.str], T], default: builtins.str | None = None) -> T:
        """``parse(value)``; a ValueError from the parser becomes an error naming the variable."""
        value = self.str(name, default)
        try:
            return parse(value)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name} is not valid: {exc}") from exc
