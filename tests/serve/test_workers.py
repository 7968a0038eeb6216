"""``--workers N``: several processes on one port, one view of their metrics."""

from __future__ import annotations

import httpx

from .serving import Server, Store, split_body, wait_for


def test_two_workers_answer_and_metrics_add_up_across_them(start_server, store: Store) -> None:
    server: Server = start_server(
        "models:/digits@champion", "--workers", "2", "--no-log", "--report-every", "0"
    )
    for start in range(0, 40, 2):  # a new connection each time, so both workers get requests
        response = httpx.post(server.url + "/invocations", json=split_body(store, start, 2))
        assert response.json()["predictions"] == store.expected_v1[start : start + 2]

    def total() -> float:
        lines = httpx.get(server.url + "/metrics").text.splitlines()
        sample = 'scanflow_requests_total{model="digits",status="200",version="1"} '
        return sum(float(line.split()[-1]) for line in lines if line.startswith(sample))

    assert wait_for(lambda: total() == 20, timeout=10, message="20 requests counted")
    assert server.stop() == 0
