"""Identifiers: Lago's lago_id values are UUID v4 strings.

They name records; they guard nothing (keys and signed links use `secrets`). So their 122
random bits come from a generator of our own, seeded from the system at start and again in
every forked child, rather than from one system call per id: on the ingestion path,
where every event gets an id, `uuid.uuid4()` was a fifth of the server's time. Our own
generator, not the `random` module's: whoever seeds that one (a test framework does)
must not make ids repeat.
"""

from __future__ import annotations

import os
import random

_GENERATOR = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _GENERATOR.seed(os.urandom(32)))

# Version 4 in bits 76-79, the RFC 4122 variant (0b10) in bits 62-63.
_CLEAR = ~((0xF << 76) | (0x3 << 62))
_SET = (0x4 << 76) | (0x2 << 62)


def new_id() -> str:
    h = f"{_GENERATOR.getrandbits(128) & _CLEAR | _SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
