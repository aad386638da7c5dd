"""The app ``aggregator serve`` runs, as a factory for ``uvicorn --factory --workers N``
(``aggregator serve`` has no workers option; benchmarks/web.py --workers uses this).

The configuration file is ``$AGGREGATOR_CONFIG``, as for the command.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from aggregator.app import build_app
from aggregator.config import find_config, load_settings
from aggregator.web import create_app


def create() -> FastAPI:
    return create_app(build_app(load_settings(find_config(None, os.environ))))
