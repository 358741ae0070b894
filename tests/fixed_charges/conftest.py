"""The compat fixtures (a real `meterly serve` driven by the lago-python-client) for the
client tests of this package."""

from tests.compat.conftest import (  # noqa: F401 - fixtures pytest finds by name
    lago_client,
    lago_database_url,
    lago_server,
)
