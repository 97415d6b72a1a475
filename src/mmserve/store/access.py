"""Who may read and write which collection, in the auth database (persistence only).

A collection without rows is open to every caller with the route's scope (collections made
with auth off, or by `mmserve index`). One made through the API with auth on gets its
creator as owner; `mmserve keys grant` adds owners and readers ("*": any caller).
"""

from __future__ import annotations

from mmserve.errors import InvalidRequest
from mmserve.store.db import Database

ROLES = ("owner", "reader")
ANYONE = "*"


class CollectionAccess:
    def __init__(self, db: Database):
        self.db = db

    def grant(self, collection: str, principal: str, role: str) -> None:
        if role not in ROLES:
            raise InvalidRequest(f"role {role!r}: use one of {', '.join(ROLES)}")
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO collection_access (collection, principal, role) VALUES (?, ?, ?) "
                "ON CONFLICT (collection, principal) DO UPDATE SET role = excluded.role",
                (collection, principal, role),
            )

    def revoke(self, collection: str, principal: str) -> bool:
        with self.db.write() as conn:
            done = conn.execute(
                "DELETE FROM collection_access WHERE collection = ? AND principal = ?",
                (collection, principal),
            )
            return done.rowcount > 0

    def forget(self, collection: str) -> None:
        """The collection is gone: a new one of that name starts without these rows."""
        with self.db.write() as conn:
            conn.execute("DELETE FROM collection_access WHERE collection = ?", (collection,))
            conn.execute("DELETE FROM collection_deidentify WHERE collection = ?", (collection,))

    def set_deidentify(self, collection: str, kinds: list[str] | tuple[str, ...]) -> None:
        """What every write to the collection strips (see mmserve.services.deidentify)."""
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO collection_deidentify (collection, kinds) VALUES (?, ?) "
                "ON CONFLICT (collection) DO UPDATE SET kinds = excluded.kinds",
                (collection, " ".join(kinds)),
            )

    def deidentify(self, collection: str) -> list[str]:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT kinds FROM collection_deidentify WHERE collection = ?", (collection,)
            ).fetchone()
        return row[0].split() if row else []

    def roles(self, collection: str) -> dict[str, str]:
        """{principal: role}; empty: the collection is open."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT principal, role FROM collection_access WHERE collection = ?",
                (collection,),
            ).fetchall()
        return dict(rows)

    def all_roles(self) -> dict[str, dict[str, str]]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT collection, principal, role FROM collection_access")
            found: dict[str, dict[str, str]] = {}
            for collection, principal, role in rows.fetchall():
                found.setdefault(collection, {})[principal] = role
        return found


def allowed(roles: dict[str, str], principal: str, *, write: bool) -> bool:
    """Whether `principal` may read (or write) a collection with these roles."""
    if not roles:
        return True
    held = {roles.get(principal), roles.get(ANYONE)}
    return "owner" in held or ("reader" in held and not write)
