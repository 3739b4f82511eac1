from collections.abc import Iterator

import pytest

from tests.transport.endpoint import Endpoint, start_endpoint, stop_endpoint


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    ep = start_endpoint()
    yield ep
    stop_endpoint(ep)
