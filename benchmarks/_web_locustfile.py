"""The load of benchmarks/web.py, run by ``locust -f``: every simulated client GETs
one path (``WEB_BENCH_PATH``) over and over with no pause between requests, on its own
keep-alive connection (FastHttpUser: geventhttpclient, lighter than requests)."""

from __future__ import annotations

import os

from locust import FastHttpUser, constant, task

PATH = os.environ.get("WEB_BENCH_PATH", "/")


class Reader(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self) -> None:
        self.client.get(PATH, name=PATH)
