"""Database URLs that hold a password, in any of the forms a driver accepts.

A storage URL is printed by the sweeper and saved in every job's config; a password in it would
leak to logs and run folders. Needs no torch or Optuna: checked before anything starts."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

# Query parameters of a database URL that carry a secret (libpq, SQLAlchemy dialects, MySQL drivers).
SECRET_QUERY_KEYS = frozenset({"password", "passwd", "pwd", "pass", "sslpassword", "secret", "token",
                               "access_token", "auth_token", "api_key", "apikey"})


def storage_without_secrets(storage: str) -> tuple[str, bool]:
    """``storage`` without its password (``user:password@``) and secret query parameters
    (``?password=...``), and whether it held any."""
    parts = urlsplit(storage)
    netloc, found = parts.netloc, False
    userinfo, at, host = netloc.rpartition("@")  # (a password may itself hold "@")
    if at and ":" in userinfo:
        netloc, found = f"{userinfo.split(':', 1)[0]}@{host}", True
    query = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in query if k.lower() not in SECRET_QUERY_KEYS]
    found = found or len(kept) < len(query)
    return parts._replace(netloc=netloc, query=urlencode(kept)).geturl(), found


def storage_password_problem(storage: str | None) -> str | None:
    """A one-line error when a storage URL carries a password in any form (it would be printed and saved)."""
    if not storage or "://" not in storage:
        return None
    try:
        safe, found = storage_without_secrets(storage)
    except ValueError:
        return None
    if not found:
        return None
    return (f"hydra.sweeper.storage holds a password, which would be printed and saved in the run's config; "
            f"use hydra.sweeper.storage={safe} and give the password in "
            "PGPASSWORD or ~/.pgpass (mode 0600), which PostgreSQL's client reads itself")
