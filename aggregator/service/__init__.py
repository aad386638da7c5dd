"""``aggregator run``: the long-running collector.

* :mod:`.collector`  claims due sources under this worker's lease and fetches them;
* :mod:`.scheduler`  the APScheduler wiring (the ticker and the periodic jobs);
* :mod:`.runner`     the process: signals, graceful stop, the health endpoint;
* :mod:`.health`     each source's health, and whether the service is alive;
* :mod:`.jobs`       periodic jobs other packages contribute (digest deliveries).
"""

from __future__ import annotations

from aggregator.service.collector import Collector
from aggregator.service.jobs import Job, delivery_jobs
from aggregator.service.runner import default_worker_id, serve

__all__ = ["Collector", "Job", "default_worker_id", "delivery_jobs", "serve"]
