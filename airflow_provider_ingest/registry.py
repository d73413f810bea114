"""Finds component classes by the names workflow files use.

Three ways to name a component, tried in order:

1. a short type name of a built-in (``file``, ``console``, ``sql``...);
2. the name of an entry point in the group ``airflow_provider_ingest.components`` (third-party
   plugins): ``<type>``, or ``<role>.<type>`` when one type name has several roles;
3. an import path, ``package.module:ClassName``.

Loading is lazy: naming a component imports its module only.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

from airflow_provider_ingest.errors import ConfigurationError

if TYPE_CHECKING:
    from airflow_provider_ingest.api import Component

ENTRY_POINT_GROUP = "airflow_provider_ingest.components"

_PKG = "airflow_provider_ingest"
BUILTINS: dict[str, dict[str, str]] = {
    "source": {
        "file": f"{_PKG}.components.file:FileSource",
        "sql": f"{_PKG}.sources.sql.source:SqlSource",
        "postgres_query_log": f"{_PKG}.usage.querylog.postgres:PostgresQueryLogSource",
        "mysql_query_log": f"{_PKG}.usage.querylog.mysql:MysqlQueryLogSource",
        "query_log_file": f"{_PKG}.usage.querylog.file:QueryLogFileSource",
    },
    "processor": {
        "filter": f"{_PKG}.processors.filter:FilterProcessor",
        "pii": f"{_PKG}.processors.pii:PiiProcessor",
        "enrich": f"{_PKG}.processors.enrich:EnrichProcessor",
        "query_parser": f"{_PKG}.usage.processor:QueryParserProcessor",
    },
    "sink": {
        "console": f"{_PKG}.components.console:ConsoleSink",
        "file": f"{_PKG}.components.file:FileSink",
        "elasticsearch": f"{_PKG}.elasticsearch.sink:ElasticsearchSink",
        "openmetadata": f"{_PKG}.openmetadata.sink:OpenMetadataSink",
    },
    "stage": {
        "file": f"{_PKG}.components.file:FileStage",
        "table_usage": f"{_PKG}.usage.stage:TableUsageStage",
    },
    "bulk_sink": {
        "file": f"{_PKG}.components.file:FileBulkSink",
        "elasticsearch": f"{_PKG}.elasticsearch.bulk_sink:ElasticsearchBulkSink",
        "openmetadata": f"{_PKG}.openmetadata.bulk_sink:OpenMetadataBulkSink",
    },
}


class UnknownComponentError(ConfigurationError, LookupError):
    """No component of that role has that name."""


@cache
def _plugins() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known_types(role: str) -> list[str]:
    """All type names a role can be given: built-ins and installed plugins."""
    names = set(BUILTINS[role])
    for name in _plugins():
        prefix, _, rest = name.partition(".")
        if rest and prefix == role:
            names.add(rest)
        elif not rest:
            names.add(name)
    return sorted(names)


def _load(target: str) -> object:
    """The object an import path ``package.module:Name`` names; any failure is an :class:`UnknownComponentError`."""
    module_name, _, attribute = target.partition(":")
    if not (all(part.isidentifier() for part in module_name.split(".")) and attribute.isidentifier()):
        raise UnknownComponentError(f"{_shown(target)} is not an import path 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as error:  # importing runs the module's code: anything can happen there
        raise UnknownComponentError(f"cannot import {_shown(target)}: {type(error).__name__}: {error}") from error
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise UnknownComponentError(f"module {module_name!r} has no attribute {attribute!r}") from None


@cache
def _builtin(target: str) -> object:
    """A built-in component class, found once: a dags folder names the same few again and again."""
    return _load(target)


def _shown(name: str) -> str:
    """A type name as shown in a message: quoted, and shortened when very long."""
    return repr(name if len(name) <= 100 else name[:100] + "...")


def resolve(role: str, name: str) -> type[Component]:
    """The component class a workflow file means by ``name`` for ``role`` (``source``, ``sink``...)."""
    from airflow_provider_ingest.api import ROLES

    base = ROLES[role]
    if name in BUILTINS[role]:
        found = _builtin(BUILTINS[role][name])
    elif ":" in name:
        found = _load(name)
    else:
        plugin = _plugins().get(f"{role}.{name}") or _plugins().get(name)
        if plugin is None:
            raise UnknownComponentError(_unknown_message(role, name))
        try:
            found = plugin.load()
        except Exception as error:  # a broken plugin
            raise UnknownComponentError(f"cannot load plugin {name!r}: {type(error).__name__}: {error}") from error
    if not (isinstance(found, type) and issubclass(found, base)):
        raise UnknownComponentError(f"{_shown(name)} is not a {role} (a subclass of {base.__name__})")
    return found


def available(role: str) -> list[tuple[str, type[Component]]]:
    """Every type name of a role with its class (imports them all); plugins of another role are left out."""
    found = []
    for name in known_types(role):
        try:
            found.append((name, resolve(role, name)))
        except UnknownComponentError:
            continue  # an entry point without a role prefix, naming a component of another role
    return found


def _unknown_message(role: str, name: str) -> str:
    known = known_types(role)
    message = f"unknown {role} type {_shown(name)}; known: {', '.join(known) or 'none'}"
    import difflib

    close = difflib.get_close_matches(name, known, n=1) if len(name) <= 100 else []
    if close:
        message += f"; did you mean {close[0]!r}?"
    return message + " (or give a class as 'package.module:ClassName')"
