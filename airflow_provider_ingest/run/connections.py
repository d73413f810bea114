"""Test every connection a workflow uses: its source database, Elasticsearch, OpenMetadata, files, the staging root.

As OpenMetadata's ``test_connection`` does for its sources, each check connects the way the component
does when it runs (from its settings, ``${ENV}`` references and Airflow connections resolved), reads the
server's version (a ``file`` component: opens its input, or writes a probe file where it writes), and
closes, without retrying, within a deadline (a host that accepts the connection and never answers fails the
check, it does not hang it). ``airflow-ingest test-connection`` prints the table;
a generated DAG's ``test_connections`` task logs it and fails when a check failed. Targets are shown
with their secrets hidden, and reasons are scrubbed of every secret the checks resolved.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from airflow_provider_ingest.api import Component, RunContext, Source
from airflow_provider_ingest.errors import ConfigurationError, ServiceUnavailableError
from airflow_provider_ingest.registry import resolve
from airflow_provider_ingest.run.steps import instantiate, resolve_staging_root
from airflow_provider_ingest.secrets import redact_text, redact_url
from airflow_provider_ingest.staging import paths
from airflow_provider_ingest.workflow.spec import ComponentSpec

HEADER = ("component", "target", "result", "latency", "detail")
STAGING_ROOT = "staging root"
QUERY_LOG_DATABASES = (
    "airflow_provider_ingest.usage.querylog.postgres",
    "airflow_provider_ingest.usage.querylog.mysql",
)
"""Query-log sources checked as the ``sql`` source is (their prepare also checks that the log can be read)."""
TIMEOUT = 30.0
"""Seconds a check may take before it fails as unanswered."""


@dataclass
class Check:
    """One connection checked: what, where (secrets hidden), whether it answered, how fast, and what it said."""

    component: str
    target: str
    ok: bool
    seconds: float
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Probe = Callable[[Component], tuple[str, str]]
"""Connects like the component does; returns (target, detail) or raises with the reason."""


def check_connections(
    components: Sequence[tuple[str, ComponentSpec]],
    staging_root: str,
    base_dir: Path,
    on_secret: Callable[[str], None] | None = None,
    timeout: float = TIMEOUT,
) -> list[Check]:
    """Check the connection of every component that has one, then that the staging root is writable.

    ``on_secret`` is told every secret resolved (``${ENV}`` references), as soon as it is: Airflow's log masker.
    A check still unanswered after ``timeout`` seconds fails.
    """
    context = RunContext(workflow_name="test_connections", run_id="check", staging_root=staging_root, base_dir=base_dir)
    checks = []
    for role, spec in components:
        name = f"{role}:{spec.type}"
        started = time.perf_counter()
        try:
            component_class = resolve(role, spec.type)
            probe = _probe_for(component_class)
            if probe is None:
                continue
            component = instantiate(role, _without_retries(component_class, spec), context)
        except Exception as error:
            checks.append(_failed(name, _described(spec.config, context.scrub), started, error, context))
            continue
        finally:
            for secret in context.secrets if on_secret is not None else ():
                on_secret(secret)
        try:
            target, detail = _within(timeout, probe, component)
        except Exception as error:
            checks.append(_failed(name, _target(component), started, error, context))
        else:
            checks.append(
                Check(name, context.scrub(target), True, time.perf_counter() - started, context.scrub(detail))
            )
    checks.append(_check_staging_root(context, timeout))
    return checks


def check_lines(checks: Sequence[Check]) -> list[str]:
    """The table of checks, then ``all N connections ok`` or how many failed."""
    rows = [HEADER] + [
        (c.component, c.target, "ok" if c.ok else "FAILED", f"{c.seconds * 1000:,.0f} ms", c.detail) for c in checks
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [
        "  ".join(
            cell.rjust(width) if i == 3 else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    failed = sum(not check.ok for check in checks)
    lines.append(f"{failed} of {len(checks)} checks failed" if failed else f"all {len(checks)} checks ok")
    return lines


def _probe_for(component_class: type[Component]) -> Probe | None:
    """The probe of a component class that connects to a service or names a file; None for one that does not.

    A ``file`` stage without ``path`` writes under the staging root, which is checked anyway.
    """
    module = component_class.__module__
    if module.startswith("airflow_provider_ingest.sources.sql") or module in QUERY_LOG_DATABASES:
        return _probe_sql
    if module == "airflow_provider_ingest.usage.querylog.file":
        return _probe_file_source
    if module.startswith("airflow_provider_ingest.elasticsearch"):
        return _probe_elasticsearch
    if module.startswith("airflow_provider_ingest.openmetadata"):
        return _probe_openmetadata
    if (
        module == "airflow_provider_ingest.components.file"
        and component_class.config_class.model_fields["path"].is_required()
    ):
        return _probe_file_source if issubclass(component_class, Source) else _probe_file_output
    return None


def _without_retries(component_class: type[Component], spec: ComponentSpec) -> ComponentSpec:
    """The spec with retries turned off where the component has them: a check answers now, or fails."""
    fields = component_class.config_class.model_fields
    overrides: dict[str, Any] = {}
    if "retry" in fields:
        overrides["retry"] = {**(spec.config.get("retry") or {}), "attempts": 1}
    if "retries" in fields:
        overrides["retries"] = 0
    if "max_retries" in fields:
        overrides["max_retries"] = 0
    return spec.model_copy(update={"config": {**spec.config, **overrides}})


def _probe_sql(component: Any) -> tuple[str, str]:
    """Open the source's connection (sample, URL or Airflow connection) and read the server's version."""
    from airflow_provider_ingest.sources.sql.connection import render

    try:
        component.prepare()
        dialect = component.engine.dialect
        version = ".".join(str(part) for part in dialect.server_version_info or ())
        return render(component.url), f"{dialect.name} {version}".strip()
    finally:
        component.close()


def _probe_elasticsearch(component: Any) -> tuple[str, str]:
    """Connect as the sink does and read the cluster's version."""
    from airflow_provider_ingest.elasticsearch.sink import connect

    client = connect(component.config, component.context.secrets)
    try:
        hosts = ", ".join(redact_url(node.base_url) for node in client.transport.node_pool.all())
        info = client.info()
    finally:
        client.close()
    return hosts, f"Elasticsearch {info['version']['number']}"


def _probe_openmetadata(component: Any) -> tuple[str, str]:
    """Connect as the sink does; the client reads and checks the server's version, with the token."""
    from airflow_provider_ingest.openmetadata.sink import connect

    client = connect(component.config, component.context.secrets, pool_size=1)
    try:
        return redact_url(client.base_url), f"OpenMetadata {client.check_version()}"
    finally:
        client.close()


def _within(timeout: float, probe: Callable[[Any], tuple[str, str]], argument: Any) -> tuple[str, str]:
    """``probe(argument)``, or :class:`ServiceUnavailableError` if it has not returned after ``timeout`` seconds.

    The probe runs in a daemon thread: one stuck in a read that never ends is left behind, never waited for.
    """
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["answer"] = probe(argument)
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=work, name="airflow-ingest-check", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise ServiceUnavailableError(f"no answer within {timeout:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["answer"]


def _probe_file_source(component: Any) -> tuple[str, str]:
    """Open the file a ``file`` source reads (a local path or object storage, with its connection)."""
    uri = component.context.resolve_path(component.config.path)
    with paths.open_read(uri) as handle:
        handle.read(1)
    return redact_url(uri), "readable"


def _probe_file_output(component: Any) -> tuple[str, str]:
    """Write a probe file into the folder a ``file`` sink or bulk sink writes to, and delete it; a path that names a
    folder fails (the file would be written only at the end of the run, and fail there)."""
    uri = component.context.resolve_path(component.config.path)
    problem = paths.file_problem(uri)
    if problem is not None:
        raise ConfigurationError(problem)
    folder = str(paths.local_path(uri).parent) if paths.is_local(uri) else uri.rsplit("/", 1)[0]
    _write_probe_file(folder)
    return redact_url(uri), "writable"


def _check_staging_root(context: RunContext, timeout: float) -> Check:
    """Check the staging root as a run does before its first record (the problem named: a file in the way, the
    permissions, a scheme without its package, a store refusing), then write a probe file under it (created if
    missing) and delete it."""
    started = time.perf_counter()
    root = context.staging_root
    try:
        root = resolve_staging_root(context.staging_root, context.base_dir)
        _within(timeout, paths.check_store, root)
        _within(timeout, _write_probe_file, root)
    except Exception as error:
        return _failed(STAGING_ROOT, redact_url(root), started, error, context)
    return Check(STAGING_ROOT, redact_url(root), True, time.perf_counter() - started, "writable")


def _write_probe_file(root: str) -> tuple[str, str]:
    probe = paths.join(root, f".airflow-ingest-check-{uuid.uuid4().hex}")
    with paths.atomic_write(probe) as handle:
        handle.write(b"airflow-ingest test-connection\n")
    paths.remove(probe)
    return root, "writable"


def _failed(name: str, target: str, started: float, error: BaseException, context: RunContext) -> Check:
    """A failed check; the reason names the error and what caused it (a refused connection...), secrets hidden."""
    reason = f"{type(error).__name__}: {error}"
    cause = error.__cause__
    if cause is not None and str(cause) not in reason:
        reason += f" (caused by {type(cause).__name__}: {cause})"
    return Check(name, target, False, time.perf_counter() - started, redact_text(context.scrub(reason)))


def _target(component: Any) -> str:
    """Where a component connects, secrets hidden: its URL, hosts or file, else its Airflow connection's id."""
    url = getattr(component, "url", None)
    if url is not None:
        from airflow_provider_ingest.sources.sql.connection import render

        return component.context.scrub(render(url))
    path = getattr(component.config, "path", None)
    if isinstance(path, str):
        return redact_url(component.context.resolve_path(path))
    return _described(component.config.model_dump(), component.context.scrub)


def _described(config: dict[str, Any], scrub: Callable[[str], str]) -> str:
    """A component's target as its settings name it, secrets hidden: the run's secrets first (a URL too odd to
    parse keeps its password where :func:`redact_url` cannot find it), then any password the URL holds."""
    if config.get("sample"):
        return f"sample database {config['sample']!r}"
    if config.get("conn_id"):
        return f"Airflow connection {config['conn_id']!r}"
    for key in ("url", "server_url"):
        if isinstance(config.get(key), str):
            return redact_url(scrub(config[key]))
    hosts = config.get("hosts")
    if isinstance(hosts, list):
        return ", ".join(redact_url(scrub(str(host))) for host in hosts)
    return "-"
