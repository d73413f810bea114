"""The ``elasticsearch`` client from settings, without Airflow: inline ``hosts`` runs never import it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_ingest.secrets import register, register_basic
from airflow_provider_ingest.urls import check_http_url

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch


def build_client(settings: dict[str, Any]) -> Elasticsearch:
    """An ``Elasticsearch`` client from hook settings (hosts, api_key or username/password, TLS, timeout); a host that
    is no http(s) URL is a :class:`ConfigurationError`."""
    from elasticsearch import Elasticsearch

    for host in settings["hosts"]:
        check_http_url(host, "Elasticsearch host")
    options: dict[str, Any] = {
        "hosts": settings["hosts"],
        "request_timeout": settings.get("request_timeout", 30),
        "max_retries": 0,
        "retry_on_timeout": False,
    }
    if settings.get("api_key"):
        options["api_key"] = settings["api_key"]
    elif settings.get("username"):
        options["basic_auth"] = (settings["username"], settings.get("password") or "")
    if settings.get("verify_certs") is not None:
        options["verify_certs"] = bool(settings["verify_certs"])
    if settings.get("ca_certs"):
        options["ca_certs"] = settings["ca_certs"]
    return Elasticsearch(**options)


def register_secrets(settings: dict[str, Any], secrets: set[str]) -> None:
    """Keep the settings' API key, password and basic credentials out of messages: into ``secrets`` (the run's, so
    dead letters, XComs and the CLI hide them too), and to Airflow's log masker in a task."""
    if settings.get("api_key"):
        register(settings["api_key"], secrets)
    if settings.get("password"):
        register_basic(settings.get("username") or "", settings["password"], secrets)
