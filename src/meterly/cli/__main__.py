"""`python -m meterly.cli ...` runs the `meterly` command (tests use it with sys.executable)."""

from meterly.cli.main import app

app(prog_name="meterly")
