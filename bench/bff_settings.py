"""The BFF's own settings (config.settings, production-style) for the benchmarks.

The one change: BFF_UPSTREAMS entries get a 256 MiB body limit, so the 200 MB upload of the
streaming run is allowed (the environment variable form has no way to say so). One knob
exists only to measure what a setting costs; the runs say when they use it:

    BENCH_CONN_HEALTH_CHECKS=false   DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
"""

from __future__ import annotations

import os

from config.settings import *  # noqa: F403
from config.settings import BFF_UPSTREAMS as _UPSTREAM_URLS
from config.settings import DATABASES

BFF_UPSTREAMS = {
    name: {"url": url, "max_body_bytes": 256 * 1024 * 1024} for name, url in _UPSTREAM_URLS.items()
}

if os.environ.get("BENCH_CONN_HEALTH_CHECKS", "").lower() == "false":
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
