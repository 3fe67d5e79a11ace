"""Readable usernames for the people of a journey: they show in the screenshots of the docs."""

from __future__ import annotations


def renamed(user, username: str):
    """Rename ``user`` (a factory user, password unchanged) and return it."""
    user.username = username
    user.save(update_fields=["username"])
    return user
