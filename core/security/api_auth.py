"""REST API token authentication in one statement.

DRF's ``TokenAuthentication`` reads the token with ``select_related("user")`` through the ORM; every
API request pays for building and compiling that query (~1 ms of CPU on a 2-core machine, the largest
single cost of a queue claim after the project lookup; BENCHMARKS.md, section 1). This subclass keeps
DRF's header parsing and error messages and reads the user with one plain SQL statement.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from core.db import columns, model_from_row
from core.models import User

# A query, not a secret (the key is a parameter).
_USER_BY_TOKEN = "SELECT {columns} FROM core_user u JOIN authtoken_token t ON t.user_id = u.id WHERE t.key = %s"  # noqa: S105  # nosec B105


class FastTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        with connection.cursor() as cursor:
            cursor.execute(_USER_BY_TOKEN.format(columns=columns(User, "u")), [key])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = model_from_row(User, row)
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        # ``request.auth``: the token as DRF would give it (key and user; nothing here reads more).
        return user, Token(key=key, user=user)
