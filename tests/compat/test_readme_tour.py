"""The README's first tour runs to the end as written, against the real server."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from tests.compat.conftest import LagoServer

README = Path(__file__).resolve().parents[2] / "README.md"


def tour_snippet() -> str:
    """The first Python block of the README's "A first tour" section."""
    tour = README.read_text().split("## A first tour", 1)[1]
    match = re.search(r"```python\n(.*?)```", tour, re.DOTALL)
    assert match is not None, "the tour has no Python snippet"
    return match.group(1)


def test_the_readme_python_tour_runs_to_the_end(lago_server: LagoServer) -> None:
    code = tour_snippet()
    # Only two things change: the key make run printed, and where the server listens.
    assert 'KEY = "..."' in code and "http://127.0.0.1:3000/" in code
    code = code.replace('KEY = "..."', f"KEY = {lago_server.api_key!r}")
    code = code.replace("http://127.0.0.1:3000/", f"{lago_server.base_url}/")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})  # the README's own code
    # 12.5 GB on a standard charge of 0.10 EUR per GB: 12.5 x 0.10 = 1.25 EUR = 125 cents.
    assert printed.getvalue().strip() == "125"
