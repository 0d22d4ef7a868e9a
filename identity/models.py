"""User accounts.

Personal data: name, email and username, kept while the account exists. Face templates and ID
photos (identity profiles) arrive with the identity-check work and are purged 365 days after their
last use.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A person who signs in: student, instructor, reviewer or admin.

    The role in a course comes from the course membership; "admin" (privacy officer) is
    ``is_superuser``. Email is the password-reset address.
    """

    class Meta:
        ordering = ["last_name", "first_name", "username"]

    def __str__(self) -> str:
        full = self.get_full_name()
        return f"{full} ({self.username})" if full else self.username
