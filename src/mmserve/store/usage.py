"""Usage counts per principal, UTC day and unit, in the auth database (persistence only)."""

from __future__ import annotations

from collections.abc import Iterable

from mmserve.store.db import Database

UsageRow = tuple[str, str, str, float]  # (principal, day YYYY-MM-DD, unit, amount)


class UsageStore:
    def __init__(self, db: Database):
        self.db = db

    def add(self, rows: Iterable[UsageRow]) -> None:
        """Add amounts to the stored counts, in one transaction."""
        with self.db.write() as conn:
            conn.executemany(
                "INSERT INTO usage (principal, day, unit, amount) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (principal, day, unit) "
                "DO UPDATE SET amount = amount + excluded.amount",
                list(rows),
            )

    def totals(self, principal: str, first_day: str, last_day: str) -> dict[str, float]:
        """{unit: amount} of `principal` from `first_day` to `last_day`, both included."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT unit, SUM(amount) FROM usage WHERE principal = ? AND day BETWEEN ? AND ? "
                "GROUP BY unit",
                (principal, first_day, last_day),
            ).fetchall()
        return {unit: amount for unit, amount in rows}

    def principals(self, first_day: str, last_day: str) -> list[str]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT DISTINCT principal FROM usage WHERE day BETWEEN ? AND ? ORDER BY 1",
                (first_day, last_day),
            ).fetchall()
        return [r[0] for r in rows]
