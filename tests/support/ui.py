"""The UI plugin's app as the API server serves it: Airflow's whole API app, signed-in users, teams."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

JWT_SECRET = "ui-tests-" + "s3cr3t-" * 10


@contextlib.contextmanager
def api_server_config(home: Path, **extra: str) -> Iterator[None]:
    """What the API server needs beside the test Airflow home: a JWT secret, SimpleAuthManager users."""
    passwords = home / "ui-passwords.json"
    passwords.write_text('{"admin": "admin-password"}\n')
    env = {
        "AIRFLOW__API_AUTH__JWT_SECRET": JWT_SECRET,
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        **extra,
    }
    with mock.patch.dict(os.environ, env):
        yield


def api_app() -> Any:
    """Airflow's API app (core: UI, public API, plugins, auth manager), as ``airflow api-server`` builds it."""
    from airflow.api_fastapi.app import create_app

    return create_app(apps="core")


def token(username: str, role: str | None, teams: list[str] | None = None) -> str:
    """A JWT for a SimpleAuthManager user, signed as the API server signs the UI's."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=username, role=role, teams=teams))


@contextlib.contextmanager
def team_owned(dag_id: str, team: str, bundle: str, other_teams: tuple[str, ...] = ()) -> Iterator[None]:
    """Multi-team mode: ``dag_id`` moved into a DAG bundle owned by ``team``; undone afterwards."""
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.team import Team, dag_bundle_team_association_table
    from airflow.utils.session import create_session
    from sqlalchemy import delete, select, update

    with create_session() as session:
        before = session.scalar(select(DagModel.bundle_name).where(DagModel.dag_id == dag_id))
        for name in (team, *other_teams):
            session.add(Team(name=name))
        session.add(DagBundleModel(name=bundle))
        session.flush()
        session.execute(dag_bundle_team_association_table.insert().values(dag_bundle_name=bundle, team_name=team))
        session.execute(update(DagModel).where(DagModel.dag_id == dag_id).values(bundle_name=bundle))
    try:
        yield
    finally:
        with create_session() as session:
            session.execute(update(DagModel).where(DagModel.dag_id == dag_id).values(bundle_name=before))
            session.execute(
                delete(dag_bundle_team_association_table).where(
                    dag_bundle_team_association_table.c.dag_bundle_name == bundle
                )
            )
            session.execute(delete(DagBundleModel).where(DagBundleModel.name == bundle))
            session.execute(delete(Team).where(Team.name.in_([team, *other_teams])))


@contextlib.contextmanager
def counting_statements() -> Iterator[list[str]]:
    """The SQL statements run meanwhile on Airflow's engine."""
    from airflow import settings
    from sqlalchemy import event

    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(settings.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(settings.engine, "before_cursor_execute", record)
