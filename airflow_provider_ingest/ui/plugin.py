"""The Airflow plugin: an "Ingestion" page in the navigation bar, an "Ingestion" tab on DAGs and an
"Ingestion report" tab on DAG runs, served by a FastAPI app that Airflow's API server mounts at ``/ingestion``.

Registered by this package's ``airflow.plugins`` entry point. Airflow loads plugins in every process
(scheduler, workers, DAG processor), so this module imports only Airflow's plugin base: the app, FastAPI
and everything it needs are imported and built at the first request the API server passes on.
"""

from __future__ import annotations

import threading
from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/ingestion"
"""Where the API server mounts the app."""
_HREF = URL_PREFIX.lstrip("/")
"""Links from the UI are relative to Airflow's base URL (the page's ``<base href>``)."""


class LazyApp:
    """An ASGI app that builds the real one (:func:`airflow_provider_ingest.ui.app.create_app`) at its first call."""

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    def _build(self) -> Any:
        with self._lock:
            if self._app is None:
                from airflow_provider_ingest.ui.app import create_app

                self._app = create_app()
        return self._app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        app = self._app if self._app is not None else self._build()
        await app(scope, receive, send)


class IngestionPlugin(AirflowPlugin):
    """The "Ingestion" pages of airflow-provider-ingest (see docs/ui.md)."""

    name = "airflow_provider_ingest"
    fastapi_apps = [{"app": LazyApp(), "url_prefix": URL_PREFIX, "name": "Ingestion"}]
    external_views = [
        {
            "name": "Ingestion",
            "href": f"{_HREF}/",
            "url_route": "ingestion",
            "destination": "nav",
            "nav_top_level": True,
            "icon": f"{_HREF}/icon.svg",
        },
        {
            "name": "Ingestion",
            "href": f"{_HREF}/dag?dag_id={{DAG_ID}}",
            "url_route": "ingestion-dag",
            "destination": "dag",
            "icon": f"{_HREF}/icon.svg",
        },
        {
            "name": "Ingestion report",
            "href": f"{_HREF}/report?dag_id={{DAG_ID}}&run_id={{RUN_ID}}",
            "url_route": "ingestion-report",
            "destination": "dag_run",
            "icon": f"{_HREF}/icon.svg",
        },
    ]
