"""Reading /metrics in tests: samples keyed by name and labels, and a black-hole port."""

from __future__ import annotations

import socket

import requests
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(base_url: str, **kwargs) -> Samples:
    """GET /metrics (it must answer 200) and parse it."""
    response = requests.get(f"{base_url}/metrics", timeout=10, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 when absent (a counter nobody has counted yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name` over the samples that have at least these labels."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


class BlackHole:
    """A port on 127.0.0.1 that takes connections and never answers: a hung Redis or
    database. The kernel completes the handshakes; nobody ever reads or writes."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)
        self.port = self._socket.getsockname()[1]

    def close(self) -> None:
        self._socket.close()
