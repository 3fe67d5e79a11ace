"""REST API token authentication in one statement.

DRF's ``TokenAuthentication`` reads the token with ``select_related("user")`` through the ORM; every
API request pays for building and compiling that query (~1 ms of CPU on a 2-core machine, the largest
single cost of a queue claim after the project lookup; BENCHMARKS.md, section 1). This subclass keeps
DRF's header parsing and error messages and reads the user with one plain SQL statement.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from core.models import User

# A query, not a secret (the key is a parameter).
_USER_BY_TOKEN = "SELECT u.* FROM core_user u JOIN authtoken_token t ON t.user_id = u.id WHERE t.key = %s"  # noqa: S105  # nosec B105


class FastTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        found = list(User.objects.raw(_USER_BY_TOKEN, [key]))
        if not found:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = found[0]
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        # ``request.auth``: the token as DRF would give it (key and user; nothing here reads more).
        return user, Token(key=key, user=user)
