"""lago_id values are well-formed UUID v4 strings, and distinct."""

from __future__ import annotations

import uuid

from meterly.services.ids import new_id


def test_ids_are_uuid4_in_canonical_form() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:2_000]:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text
