"""A throwaway S3-compatible server for the object-store tests: moto's server mode in a thread
of the test process, on a free port. A pipeline reaches it as a real deployment reaches S3: the
credentials and the endpoint come from the environment (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL), which boto and s3fs read; nothing is in a path."""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from typing import Iterator

# Fake credentials that no real account has: a test that leaked them would show them.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "PIPECTESTKEYID0000", "AWS_SECRET_ACCESS_KEY": "pipec-test-secret-0000",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1"}


class ObjectStore:
    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint = ""

    def start(self) -> "ObjectStore":
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def environment(self) -> dict[str, str]:
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def new_bucket(self) -> str:
        """A new empty bucket's name, one per test."""
        import fsspec

        name = f"pipec-{uuid.uuid4().hex[:12]}"
        with environment(self.environment):
            fsspec.filesystem("s3", skip_instance_cache=True).mkdir(name)
        return name


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block (for a session fixture, where monkeypatch is not)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
