"""gunicorn settings for the BFF: `gunicorn -c config/gunicorn.conf.py config.wsgi`."""

import ipaddress
import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()
# The .env the Django settings read, so that gunicorn and Django agree on whom to trust.
_DOTENV = Path(__file__).resolve().parent.parent / ".env"
if _DOTENV.is_file():
    environ.Env.read_env(_DOTENV)

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
# Threads let one worker wait on the provider or an upstream while serving others.
worker_class = "gthread"
# An event stream (text/event-stream through /api) holds a thread while it is open: at most
# BFF_LIVE_MAX_EVENT_STREAMS_PER_PROCESS (4) of them, so the others stay for requests.
threads = int(os.environ.get("GUNICORN_THREADS", 8))
# The worker's heartbeat under gthread, not a limit on one request: long streams are fine.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
# The path without its query (%(U)s), no Referer: a query or a Referer may carry an
# authorization code or a sign-in's state, and the logs never do.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s'

# What a request says about its connection (https, the client's address, the host) is
# believed only behind a proxy (DJANGO_BEHIND_PROXY) and only from the proxy's own addresses
# (BFF_TRUSTED_PROXIES: addresses or networks, comma-separated). By default from nobody, not
# even 127.0.0.1, which gunicorn's own default (FORWARDED_ALLOW_IPS) trusts.
BEHIND_PROXY = env.bool("DJANGO_BEHIND_PROXY", default=False)
TRUSTED_PROXIES = env.list("BFF_TRUSTED_PROXIES", default=[]) if BEHIND_PROXY else []
if BEHIND_PROXY and not TRUSTED_PROXIES:
    # Else no request would ever be https: a redirect loop instead of a clear error.
    raise ImproperlyConfigured(
        "DJANGO_BEHIND_PROXY is on: set BFF_TRUSTED_PROXIES to the proxy's addresses or "
        "networks (e.g. 127.0.0.1 or 10.0.0.0/8)."
    )
try:
    _TRUSTED_NETWORKS = [ipaddress.ip_network(proxy) for proxy in TRUSTED_PROXIES]
except ValueError as exc:
    raise ImproperlyConfigured(f"BFF_TRUSTED_PROXIES: {exc}.") from exc
forwarded_allow_ips = ",".join(TRUSTED_PROXIES)
# The one header the proxy sets (Django's SECURE_PROXY_SSL_HEADER reads the same); no other
# makes a request https. With nobody trusted, none does: gunicorn trusts a UNIX socket's peer
# whatever forwarded_allow_ips says.
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"} if TRUSTED_PROXIES else {}
forwarder_headers = "SCRIPT_NAME,PATH_INFO" if TRUSTED_PROXIES else ""
# Dropped from an untrusted peer before Django sees them: Django cannot tell who sent them.
FORWARDED_HEADERS = frozenset(
    {
        "FORWARDED",
        "X-FORWARDED-FOR",
        "X-FORWARDED-HOST",
        "X-FORWARDED-PORT",
        "X-FORWARDED-PROTO",
        "X-FORWARDED-PROTOCOL",
        "X-FORWARDED-SSL",
        "X-REAL-IP",
    }
)


def is_trusted_proxy(peer_addr) -> bool:
    """A trusted proxy's address; a UNIX socket's peer counts as one once any is configured."""
    if not TRUSTED_PROXIES:
        return False
    if not isinstance(peer_addr, tuple):
        return True
    try:
        address = ipaddress.ip_address(peer_addr[0])
    except ValueError:
        return False
    return any(address in network for network in _TRUSTED_NETWORKS)


def pre_request(worker, req) -> None:
    """Forget what an untrusted peer says about the connection."""
    worker.log.debug("%s %s", req.method, req.path)
    if not is_trusted_proxy(req.peer_addr):
        req.headers = [
            (name, value) for name, value in req.headers if name not in FORWARDED_HEADERS
        ]


# --- Metrics (bff/metrics.py) -------------------------------------------------------------
# prometheus-client's multiprocess mode: each worker writes its values to files in this
# directory and /metrics adds them up. Set before any worker imports prometheus_client (it
# reads the variable then); files of an earlier run are removed, or counters would carry on
# from dead processes.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bff-metrics-")
    # Ours to remove at exit (a reload reads this file again and must know it still is).
    os.environ["BFF_METRICS_DIR_MADE"] = os.environ["PROMETHEUS_MULTIPROC_DIR"]
METRICS_DIR = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def on_starting(server) -> None:
    METRICS_DIR.mkdir(parents=True, exist_ok=True)
    for stale in METRICS_DIR.glob("*.db"):
        stale.unlink()


def child_exit(server, worker) -> None:
    """A worker's live gauges (bff_store_down) go with it; its counters stay counted."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, str(METRICS_DIR))


def on_exit(server) -> None:
    if os.environ.get("BFF_METRICS_DIR_MADE") == str(METRICS_DIR):
        shutil.rmtree(METRICS_DIR, ignore_errors=True)


# --- Logs ---------------------------------------------------------------------------------
# With LOG_FORMAT=json gunicorn's own lines (start, workers, the access log) are JSON too, so
# the stream is one format; Django's are set in config/settings.py LOGGING.
if env("LOG_FORMAT", default="kv") == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "bff.logging.JsonFormatter"}},
        "handlers": {
            "error_console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            },
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
            # gunicorn writes the access log whenever logconfig_dict is set: only when asked.
            "gunicorn.access": {
                "level": "INFO" if accesslog else "CRITICAL",
                "handlers": ["console"],
                "propagate": False,
            },
        },
    }
