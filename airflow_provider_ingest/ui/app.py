"""The FastAPI app of the "Ingestion" pages, mounted by Airflow's API server under ``/ingestion``.

Every page and file needs a signed-in user (Airflow's JWT, from the UI's cookie or a bearer token, checked by
Airflow's own ``get_user``): an anonymous request to a page is sent to the login page, to the JSON API or a
file refused with 401. What a user sees is what Airflow's auth manager lets them read: DAGs they may read
(``GET`` on the DAG); a DAG's runs and counts only with its ``RUN`` and ``XCOM`` entities; a run's report
with ``RUN``, ``TASK_INSTANCE`` and ``XCOM``; its files with ``TASK_LOGS`` as well. A refusal is decided
before anything about the DAG is looked up.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from airflow_provider_ingest.terminal import printable_lines
from airflow_provider_ingest.ui import data, views
from airflow_provider_ingest.ui.files import Refused, resolve_download

MAX_PER_PAGE = 100
DEFAULT_DAGS_PER_PAGE = 25
DEFAULT_RUNS_PER_PAGE = 50
MAX_PAGE = 1_000_000
MAX_ID = 250
"""Longest dag id or run id a request may name (Airflow's own limit)."""
CHUNK = 1 << 20
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
}
ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#017cee" stroke-width="2" '
    'stroke-linecap="round" stroke-linejoin="round"><ellipse cx="12" cy="5" rx="8" ry="3"/>'
    '<path d="M4 5v6c0 1.7 3.6 3 8 3s8-1.3 8-3V5"/><path d="M4 11v6c0 1.7 3.6 3 8 3"/>'
    '<path d="M17 15v6m-3-3 3 3 3-3"/></svg>'
)


class Forbidden(Exception):
    """The user may not read this: nothing about it is shown."""


class NotFound(Exception):
    """No such DAG, run or file (for a user who may read the DAG)."""


def _session() -> Iterator[Session]:
    from airflow.utils.session import create_session

    with create_session(scoped=False) as session:
        yield session


def _get_user() -> Any:
    """Airflow's own dependency that reads and checks the JWT (bearer header or the UI's cookie)."""
    from airflow.api_fastapi.core_api.security import get_user

    return get_user


SessionDep = Annotated[Session, Depends(_session)]
UserDep = Annotated[Any, Depends(_get_user())]
DagIdQuery = Annotated[str, Query(min_length=1, max_length=MAX_ID)]
RunIdQuery = Annotated[str, Query(min_length=1, max_length=MAX_ID)]
PageQuery = Annotated[int, Query(ge=1, le=MAX_PAGE)]
PerPageQuery = Annotated[int | None, Query(ge=1, le=MAX_PER_PAGE)]


class Access:
    """The auth manager's answers for one user (``GET`` on DAGs, with the entities a page needs)."""

    def __init__(self, user: Any, session: Session) -> None:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity

        self.user = user
        self.session = session
        self.manager = get_auth_manager()
        self.runs = (DagAccessEntity.RUN, DagAccessEntity.XCOM)
        self.report = (DagAccessEntity.RUN, DagAccessEntity.TASK_INSTANCE, DagAccessEntity.XCOM)
        self.files = (*self.report, DagAccessEntity.TASK_LOGS)

    def readable_dags(self) -> set[str]:
        return set(self.manager.get_authorized_dag_ids(user=self.user, method="GET", session=self.session))

    def may(self, dag_ids: list[str], entities: tuple[Any, ...]) -> set[str]:
        """Which of ``dag_ids`` the user may read, with each of ``entities`` of them."""
        from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

        teams = data.team_names(self.session, dag_ids)
        allowed = set()
        for dag_id in dag_ids:
            details = DagDetails(id=dag_id, team_name=teams.get(dag_id))
            if all(
                self.manager.is_authorized_dag(method="GET", access_entity=entity, details=details, user=self.user)
                for entity in (None, *entities)
            ):
                allowed.add(dag_id)
        return allowed

    def require(self, dag_id: str, entities: tuple[Any, ...]) -> None:
        if dag_id not in self.may([dag_id], entities):
            raise Forbidden(f"you may not read DAG {dag_id!r}")


def _page(number: int, size: int | None, default: int) -> views.Page:
    return views.Page(number, size or default)


def dags_body(user: Any, session: Session, page: int, per_page: int | None, q: str | None) -> dict[str, Any]:
    access = Access(user, session)
    return views.dags_page(
        session,
        access.readable_dags(),
        lambda dag_ids: access.may(dag_ids, access.runs),
        _page(page, per_page, DEFAULT_DAGS_PER_PAGE),
        q,
    )


def dag_body(user: Any, session: Session, dag_id: str, page: int, per_page: int | None) -> dict[str, Any]:
    access = Access(user, session)
    access.require(dag_id, access.runs)
    shape = data.dag_shape_of(session, dag_id)
    if shape is None:
        raise NotFound(f"no ingestion DAG {dag_id!r}")
    return views.dag_page(session, dag_id, shape, _page(page, per_page, DEFAULT_RUNS_PER_PAGE))


def report_body(user: Any, session: Session, dag_id: str, run_id: str) -> dict[str, Any]:
    access = Access(user, session)
    access.require(dag_id, access.report)
    run = data.find_run(session, dag_id, run_id)
    if run is None:
        raise NotFound(f"DAG {dag_id!r} has no run {run_id!r}")
    return views.report_page(session, run, data.dag_shape_of(session, dag_id))


def create_app() -> FastAPI:
    """The app: HTML pages ``/``, ``/dag``, ``/report``, the JSON API ``/api/...``, and ``/files``."""
    templates = _templates()
    app = FastAPI(title="Ingestion", docs_url=None, redoc_url=None, openapi_url=None)

    def page(request: Request, name: str, body: dict[str, Any], status: int = 200) -> HTMLResponse:
        html = templates.get_template(name).render(request=request, **body)
        return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)

    def wants_page(request: Request) -> bool:
        path = request.url.path
        return "/api/" not in path and not path.endswith("/files")

    @app.exception_handler(HTTPException)
    async def not_signed_in(request: Request, error: HTTPException) -> Response:
        """Airflow's ``get_user`` refused the credentials: a page goes to the login page, the rest gets the error."""
        if error.status_code in (401, 403) and wants_page(request):
            from airflow.api_fastapi.app import get_auth_manager

            return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=302)
        return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, error: Forbidden) -> Response:
        return refusal(request, 403, "Forbidden", str(error))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, error: NotFound) -> Response:
        return refusal(request, 404, "Not found", str(error))

    def refusal(request: Request, status: int, title: str, detail: str) -> Response:
        if wants_page(request):
            return page(request, "error.html", {"title": title, "detail": detail}, status)
        return JSONResponse({"detail": detail}, status_code=status)

    @app.get("/icon.svg", include_in_schema=False)
    def icon() -> Response:
        return Response(ICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    @app.get("/", response_class=HTMLResponse)
    def index(
        request: Request,
        user: UserDep,
        session: SessionDep,
        page_number: Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE)] = 1,
        per_page: PerPageQuery = None,
        q: Annotated[str | None, Query(max_length=MAX_ID)] = None,
    ) -> HTMLResponse:
        return page(request, "index.html", dags_body(user, session, page_number, per_page, q))

    @app.get("/dag", response_class=HTMLResponse)
    def dag(
        request: Request,
        user: UserDep,
        session: SessionDep,
        dag_id: DagIdQuery,
        page_number: Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE)] = 1,
        per_page: PerPageQuery = None,
    ) -> HTMLResponse:
        return page(request, "dag.html", dag_body(user, session, dag_id, page_number, per_page))

    @app.get("/report", response_class=HTMLResponse)
    def report(request: Request, user: UserDep, session: SessionDep, dag_id: DagIdQuery, run_id: RunIdQuery) -> Any:
        return page(request, "report.html", report_body(user, session, dag_id, run_id))

    @app.get("/api/dags")
    def api_dags(
        user: UserDep,
        session: SessionDep,
        page_number: Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE)] = 1,
        per_page: PerPageQuery = None,
        q: Annotated[str | None, Query(max_length=MAX_ID)] = None,
    ) -> dict[str, Any]:
        return dags_body(user, session, page_number, per_page, q)

    @app.get("/api/dag")
    def api_dag(
        user: UserDep,
        session: SessionDep,
        dag_id: DagIdQuery,
        page_number: Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE)] = 1,
        per_page: PerPageQuery = None,
    ) -> dict[str, Any]:
        return dag_body(user, session, dag_id, page_number, per_page)

    @app.get("/api/report")
    def api_report(user: UserDep, session: SessionDep, dag_id: DagIdQuery, run_id: RunIdQuery) -> dict[str, Any]:
        return report_body(user, session, dag_id, run_id)

    @app.get("/files")
    def files(
        user: UserDep,
        session: SessionDep,
        dag_id: DagIdQuery,
        run_id: RunIdQuery,
        path: Annotated[str, Query(max_length=4096)],
    ) -> Response:
        """One file of a run's folder under the staging root (see :mod:`airflow_provider_ingest.ui.files`)."""
        access = Access(user, session)
        access.require(dag_id, access.files)
        run = data.find_run(session, dag_id, run_id)
        shape = data.dag_shape_of(session, dag_id)
        if run is None or shape is None:
            raise NotFound(f"DAG {dag_id!r} has no ingestion run {run_id!r}")
        folders = views.run_folders(session, run, shape)
        if not folders:
            raise NotFound("this run has no staged files")
        refusal: Refused | None = None
        for folder in folders:
            try:
                target = resolve_download(folder, path)
            except Refused as error:
                refusal = error
                continue
            return _download(target, f"{dag_id}_{run_id}_{path}".replace("/", "_"))
        assert refusal is not None
        return JSONResponse({"detail": str(refusal)}, status_code=refusal.status)

    return app


def _download(target: str, name: str) -> Response:
    """The file as an attachment, streamed."""
    from airflow_provider_ingest.staging import paths

    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
    if paths.is_local(target):
        return FileResponse(target, media_type="application/octet-stream", filename=name, headers=headers)

    def chunks() -> Iterator[bytes]:
        with paths.open_read(target) as stream:
            while chunk := stream.read(CHUNK):
                yield chunk

    quoted = urllib.parse.quote(name)
    headers["Content-Disposition"] = f"attachment; filename*=utf-8''{quoted}"
    return StreamingResponse(chunks(), media_type="application/octet-stream", headers=headers)


def _templates() -> Any:
    """The Jinja2 environment of the pages (autoescaped) with the formatting filters."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("airflow_provider_ingest.ui", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_shown,
    )
    env.filters.update(num=_number, pct=_percent, secs=_seconds, when=_when, segment=_segment)
    env.globals["link"] = _link
    return env


def _shown(value: Any) -> Any:
    """Every text a page prints, as the CLI prints it (:func:`~airflow_provider_ingest.terminal.printable_lines`): a
    name cannot reverse or break a table's text."""
    if not isinstance(value, str) or value.isprintable():
        return value
    from markupsafe import Markup

    shown = printable_lines(value)
    return Markup(shown) if isinstance(value, Markup) else shown  # the chart's SVG, built escaped


def _segment(value: Any) -> str:
    """A value as one segment of a URL's path: ``/``, ``?`` and ``#`` quoted too."""
    return urllib.parse.quote(str(value), safe="")


def _link(page: str, /, **params: Any) -> str:
    """A relative link to one of the pages with its query (empty values left out)."""
    query = urllib.parse.urlencode({key: value for key, value in params.items() if value not in (None, "")})
    return f"{page}?{query}" if query else page


def _number(value: Any) -> str:
    return "—" if value is None else f"{value:,}"


def _percent(value: Any) -> str:
    return "—" if value is None else f"{value:.1f}"


def _seconds(value: Any) -> str:
    if value is None:
        return "—"
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s"


def _when(value: Any) -> str:
    if not value:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
