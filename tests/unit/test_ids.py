"""lago_id values are well-formed UUID v4 strings, and distinct."""

from __future__ import annotations

import uuid

from meterly.services.common import new_id


def test_ids_are_uuid4_in_canonical_form() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:2_000]:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_seeding_the_random_module_does_not_repeat_ids() -> None:
    import random

    random.seed(7)
    first = new_id()
    random.seed(7)
    assert new_id() != first


def test_a_forked_child_draws_other_ids() -> None:
    import os

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send one id and leave at once
        os.write(write, new_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert child != new_id()
