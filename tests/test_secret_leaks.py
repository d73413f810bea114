"""No secret leaves a run: each way of giving one, through a failing connection and a run with dead letters.

Each case puts a secret full of URL-special characters (``SECRET`` plus a marker unique to the test)
into a setting the way the documentation allows (a ``password`` field, a URL's ``user:password@``, a
secret query parameter, a whole URL from one variable, an Airflow connection, an Elasticsearch API key,
an OpenMetadata JWT token with a trailing newline), runs the workflow through the CLI (and, for the sql
source and OpenMetadata, as an Airflow DAG), then searches stdout, stderr, every file the run wrote
(staged files, dead letters, logs) and the XComs for the secret and its percent-encoded form. Every run
is checked to have really failed, or really written dead letters, so that no search passes on an empty
output. PostgreSQL here trusts every login, so a failing connection is one whose role does not exist.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from es_server import FakeElasticsearch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from om_server import FakeOpenMetadata, serve
from support.servers import closed_port

from airflow_provider_ingest.api import ComponentConfig, Sink, Source
from airflow_provider_ingest.records import Database, DatabaseService, Record, Table
from airflow_provider_ingest.secrets import MASK, MIN_LENGTH, redact_text, redact_url, scrub, secret_spans
from airflow_provider_ingest.staging import read_dead_letters
from airflow_provider_ingest.workflow.document import WorkflowFileError
from airflow_provider_ingest.workflow.env import secret_values, substitute
from airflow_provider_ingest.workflow.loader import load_workflow

SECRET = "s3cr#t@x/q%:?zz"
NOT_HEX = str.maketrans("0123456789abcdef", "ghijklmnopqrstuv")
PG = "127.0.0.1:5432"
TESTS = Path(__file__).resolve().parent


def pieces(secret: str, size: int = 6) -> set[str]:
    """What a search looks for: every piece of ``size`` characters or more of the secret (and of it without
    its trailing newline), as written and percent-encoded."""
    values = {secret, secret.strip()}
    values |= {quote(value, safe="") for value in values} | {quote_plus(value) for value in values}
    return {value[i:j] for value in values for i in range(len(value)) for j in range(i + size, len(value) + 1)}


ESCAPE = re.compile(r"(%[0-9A-Fa-f]{2}|\\[abfnrtv0]|\\x[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8})$")


def standing(text: str, secret: str) -> bool:
    """Whether ``secret`` stands in ``text`` as a word of its own: no letter, digit or ``_`` (nor one beyond a ``-`` or
    ``.``) joins its first or last character, where that is a letter, digit or ``_``; the end of an escape before it
    (``%3D``, ``\\n``) is none."""

    def word(index: int) -> bool:
        return 0 <= index < len(text) and (text[index].isalnum() or text[index] == "_")

    def joined(edge: int, step: int) -> bool:
        return word(edge) or (0 <= edge < len(text) and text[edge] in "-." and word(edge + step))

    start = text.find(secret)
    while start >= 0:
        end = start + len(secret)
        first, last = secret[0].isalnum() or secret[0] == "_", secret[-1].isalnum() or secret[-1] == "_"
        escaped = ESCAPE.search(text, 0, start) is not None
        if not (first and joined(start - 1, -1) and not escaped) and not (last and joined(end, 1)):
            return True
        start = text.find(secret, start + 1)
    return False


def leaks(outputs: dict[str, bytes], secret: str) -> list[str]:
    """The outputs holding a piece of the secret."""
    found = [piece.encode() for piece in pieces(secret)]
    return sorted(name for name, data in outputs.items() if any(piece in data for piece in found))


def files_under(*folders: Path) -> dict[str, bytes]:
    """Every file under the folders, gzip files unpacked."""
    found = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                found[str(path)] = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return found


def dead_letters(folder: Path) -> list[Any]:
    """Every dead letter written under a folder."""
    return [letter for path in sorted(folder.rglob("dead_letters*")) for letter in read_dead_letters(str(path))]


def catalog() -> list[Record]:
    """A service, a database and a table whose schema is missing: OpenMetadata refuses the table."""
    return [
        DatabaseService(name="shop", service_type="Postgres"),
        Database(service="shop", name="sales"),
        Table(service="shop", database="sales", database_schema="public", name="orders"),
    ]


class RefusingSinkConfig(ComponentConfig):
    refuse: list[str] = []


class RefusingSink(Sink):
    """Refuses the records named in ``refuse``: they become dead letters."""

    config_class = RefusingSinkConfig
    config: RefusingSinkConfig

    def write(self, record: Record) -> None:
        if record.name in self.config.refuse:
            raise ValueError(f"refusing {record.kind} {record.name}")


class CarelessConfig(ComponentConfig):
    password: str


class CarelessSource(Source):
    """Puts its password into the error that fails the run, as a careless plugin would."""

    config_class = CarelessConfig
    config: CarelessConfig

    def prepare(self) -> None:
        raise ConnectionError(f"login with password {self.config.password} refused")

    def records(self) -> Iterator[Record]:
        yield from ()


class CarelessSink(Sink):
    """Puts its password into every record's error, as a careless plugin would: dead letters."""

    config_class = CarelessConfig
    config: CarelessConfig

    def write(self, record: Record) -> None:
        raise ValueError(f"cannot write {record.name} with password {self.config.password}")


@dataclass
class Services:
    """What the cases connect to: the test Elasticsearch and OpenMetadata servers, files, a closed port."""

    es: FakeElasticsearch
    om: FakeOpenMetadata
    folder: Path
    records: Path
    closed: str


@dataclass
class Run:
    """One workflow to run and the environment that holds its secret."""

    workflow: dict[str, Any]
    env: dict[str, str]
    secret: str


Case = Callable[[Services, str, bool], Run]
"""(services, secret, failing) -> the run: a failing connection, or one that writes dead letters."""

SECRET_VAR = "LEAK_SECRET"


def file_source(services: Services) -> dict[str, Any]:
    return {"type": "file", "config": {"path": str(services.records)}}


def sql_run(url: str, failing: bool, secret: str, **options: Any) -> Run:
    """The sql source reading PostgreSQL; dead letters from a sink refusing its records."""
    role = f"nosuch_{uuid.uuid4().hex[:8]}" if failing else "postgres"
    source = {"url": url.replace("ROLE", role), "service_name": "pg", "schema_filter": {"include": ["public"]}}
    source["table_filter"] = {"include": ["none_here"]}
    sink = {"type": f"{__name__}:RefusingSink", "config": {"refuse": ["pg", "postgres", "public"]}}
    return Run({"source": {"type": "sql", "config": {**source, **options}}, "sink": sink}, {SECRET_VAR: secret}, secret)


def sql_password_field(services: Services, secret: str, failing: bool) -> Run:
    return sql_run(f"postgresql+psycopg2://ROLE@{PG}/postgres", failing, secret, password="${LEAK_SECRET}")


def sql_url_password(services: Services, secret: str, failing: bool) -> Run:
    return sql_run(f"postgresql+psycopg2://ROLE:${{{SECRET_VAR}}}@{PG}/postgres", failing, secret)


def sql_query_password(services: Services, secret: str, failing: bool) -> Run:
    return sql_run(f"postgresql+psycopg2://ROLE@{PG}/postgres?password=${{{SECRET_VAR}}}", failing, secret)


def sql_query_sslpassword(services: Services, secret: str, failing: bool) -> Run:
    url = f"postgresql+psycopg2://ROLE@{PG}/postgres?sslmode=disable&sslpassword=${{{SECRET_VAR}}}"
    return sql_run(url, failing, secret)


def sql_whole_url(services: Services, secret: str, failing: bool) -> Run:
    run = sql_run("${LEAK_URL}", failing, secret)
    role = f"nosuch_{uuid.uuid4().hex[:8]}" if failing else "postgres"
    run.env["LEAK_URL"] = f"postgresql+psycopg2://{role}:{quote(secret, safe='')}@{PG}/postgres"
    return run


def airflow_connection(services: Services, secret: str, failing: bool) -> Run:
    conn_id = f"leak_pg_{uuid.uuid4().hex[:8]}"
    run = sql_run("", failing, secret)
    config = run.workflow["source"]["config"]
    login = config.pop("url").split("//")[-1] or "postgres"
    del config["service_name"]
    config["conn_id"] = conn_id
    if failing:
        login = f"nosuch_{uuid.uuid4().hex[:8]}"
    connection = {"conn_type": "postgres", "login": login, "password": secret, "host": "127.0.0.1", "port": 5432}
    return Run(
        run.workflow, {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps({**connection, "schema": "postgres"})}, secret
    )


def es_run(services: Services, secret: str, failing: bool, host: str, **options: Any) -> Run:
    """A file source into the Elasticsearch sink (``HOST`` in ``host``), which refuses every document."""
    where = (services.closed if failing else services.es.url).split("//")[1]
    sink = {"type": "elasticsearch", "config": {"hosts": [host.replace("HOST", where)], "max_retries": 0, **options}}
    return Run({"source": file_source(services), "sink": sink}, {SECRET_VAR: secret}, secret)


def es_api_key(services: Services, secret: str, failing: bool) -> Run:
    return es_run(services, secret, failing, "http://HOST", api_key="${LEAK_SECRET}")


def es_url_password(services: Services, secret: str, failing: bool) -> Run:
    return es_run(services, secret, failing, f"http://elastic:${{{SECRET_VAR}}}@HOST")


def es_query_token(services: Services, secret: str, failing: bool) -> Run:
    return es_run(services, secret, failing, f"http://HOST/?token=${{{SECRET_VAR}}}")


def om_jwt_token(services: Services, secret: str, failing: bool) -> Run:
    """A file source into the OpenMetadata sink: 401 when failing, else every table refused (no parents)."""
    services.om.token = "some-other-token" if failing else secret.strip()
    sink = {"type": "openmetadata", "config": {"server_url": services.om.url, "jwt_token": "${LEAK_SECRET}"}}
    sink["config"]["retries"] = 0
    return Run({"source": file_source(services), "sink": sink}, {SECRET_VAR: secret + "\n"}, secret + "\n")


def careless_plugin(services: Services, secret: str, failing: bool) -> Run:
    """A plugin that writes its password into its errors: the run scrubs what it resolved from ``${ENV}``."""
    config = {"password": "${LEAK_SECRET}"}
    source = {"type": f"{__name__}:CarelessSource", "config": config} if failing else file_source(services)
    sink = {"type": f"{__name__}:CarelessSink", "config": config}
    return Run({"source": source, "sink": sink}, {SECRET_VAR: secret}, secret)


CASES: dict[str, Case] = {
    "sql_password_field": sql_password_field,
    "sql_url_password": sql_url_password,
    "sql_query_password": sql_query_password,
    "sql_query_sslpassword": sql_query_sslpassword,
    "sql_whole_url": sql_whole_url,
    "airflow_connection": airflow_connection,
    "es_api_key": es_api_key,
    "es_url_password": es_url_password,
    "es_query_token": es_query_token,
    "om_jwt_token": om_jwt_token,
    "careless_plugin": careless_plugin,
}


@pytest.fixture
def secret() -> str:
    """The secret, made unique to the test so that no earlier run's output can match it. The unique part is
    letters outside hex: six hex digits of it (all decimal 6% of the time) matched a timestamp's microseconds."""
    return f"{SECRET}-{uuid.uuid4().hex[:8].translate(NOT_HEX)}"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    from airflow_provider_ingest.staging.stagedfile import StagedFileWriter

    records = tmp_path / "input" / "catalog.jsonl"
    records.parent.mkdir()
    with StagedFileWriter(str(records), producer="test") as writer:
        for record in catalog():
            writer.write(record)
    es = FakeElasticsearch()
    es.reject(lambda doc_id, source: ("mapper_parsing_exception", f"refusing {doc_id}"))
    with serve() as om, closed_port() as port:
        yield Services(es, om, tmp_path, records, f"http://127.0.0.1:{port}")
    es.close()


def write_workflow(path: Path, staging: Path, run: Run, **airflow: Any) -> Path:
    """The run's workflow file, staging under ``staging``; JSON is YAML."""
    workflow = {**run.workflow, "workflow": {"staging_root": str(staging)}}
    if airflow:
        workflow["airflow"] = {"retries": 0, **airflow}
    path.write_text(json.dumps(workflow, indent=2))
    return path


def cli_run(folder: Path, run: Run) -> tuple[subprocess.CompletedProcess, dict[str, bytes]]:
    """Run the workflow with the CLI in a subprocess; return it and every output: stdout, stderr, every file."""
    path = write_workflow(folder / "leak.yaml", folder / "staging", run)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]), **run.env}
    command = [sys.executable, "-m", "airflow_provider_ingest.cli", "run", str(path)]
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, check=False, timeout=120)
    return done, {"stdout": done.stdout, "stderr": done.stderr, **files_under(folder)}


@pytest.mark.postgres
@pytest.mark.parametrize("case", CASES)
def test_a_failing_connection_shows_no_secret(
    case: str, services: Services, secret: str, tmp_path: Path, postgres_url: str
) -> None:
    run = CASES[case](services, secret, True)
    done, outputs = cli_run(tmp_path, run)
    assert done.returncode == 1, done.stdout.decode() + done.stderr.decode()
    assert b"run failed" in done.stdout + done.stderr
    assert leaks(outputs, run.secret) == []


@pytest.mark.postgres
@pytest.mark.parametrize("case", CASES)
def test_a_run_with_dead_letters_shows_no_secret(
    case: str, services: Services, secret: str, tmp_path: Path, postgres_url: str
) -> None:
    run = CASES[case](services, secret, False)
    done, outputs = cli_run(tmp_path, run)
    letters = dead_letters(tmp_path / "staging")
    assert letters, done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 1  # below the success threshold
    assert leaks(outputs, run.secret) == []


ES_CREDENTIALS = {
    "connection_password": lambda secret: ({"login": "elastic", "password": secret}, {}),
    "connection_api_key": lambda secret: ({"extra": json.dumps({"api_key": secret})}, {}),
    "inline_password": lambda secret: (None, {"username": "elastic", "password": "${LEAK_SECRET}"}),
    "inline_api_key": lambda secret: (None, {"api_key": "${LEAK_SECRET}"}),
}


@pytest.mark.parametrize("credentials", ES_CREDENTIALS)
def test_an_elasticsearch_server_echoing_the_credentials_shows_none_of_them(
    credentials: str, services: Services, secret: str, tmp_path: Path
) -> None:
    """Its answers quote the password, the API key and the basic header's base64, for every document and in a
    200 that is no bulk answer (cut, and retried with a warning): an Airflow connection's secrets are the run's."""
    basic = base64.b64encode(f"elastic:{secret}".encode()).decode()
    header = f"ApiKey {secret}" if "api_key" in credentials else f"Basic {basic}"
    echo = f"you sent {secret} as elastic:{secret}, {header}"
    es = FakeElasticsearch()
    es.reject(lambda doc_id, source: ("security_exception", echo))
    connection, inline = ES_CREDENTIALS[credentials](secret)
    sink = {"type": "elasticsearch", "config": {"max_retries": 1, "initial_backoff": 0, **inline}}
    env = {SECRET_VAR: secret}
    if connection is None:
        sink["config"]["hosts"] = [es.url]
    else:
        sink["config"]["conn_id"] = "leak_es"
        host = {"conn_type": "ingest_elasticsearch", "host": es.url}
        env["AIRFLOW_CONN_LEAK_ES"] = json.dumps({**host, **connection})
    run = Run({"source": file_source(services), "sink": sink}, env, secret)

    try:
        done, outputs = cli_run(tmp_path, run)
    finally:
        es.close()

    assert dead_letters(tmp_path / "staging"), done.stdout.decode() + done.stderr.decode()
    assert b"you sent *** as elastic:***" in b"".join(outputs.values())
    assert leaks(outputs, secret) == [] and not [name for name, data in outputs.items() if basic.encode() in data]


def run_xcoms(dag_run: Any) -> bytes:
    """Every XCom of a run, whatever its key, as JSON."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
        values = [[row.task_id, row.key, XComModel.deserialize_value(row)] for row in rows]
    return json.dumps(values).encode()


@pytest.mark.airflow
@pytest.mark.postgres
@pytest.mark.parametrize("failing", [True, False], ids=["failing_connection", "dead_letters"])
@pytest.mark.parametrize("case", ["sql_url_password", "sql_password_field", "airflow_connection", "om_jwt_token"])
def test_an_airflow_run_shows_no_secret(
    case: str,
    failing: bool,
    services: Services,
    secret: str,
    tmp_path: Path,
    dags_folder: Path,
    postgres_url: str,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from support.dags import run_dag, task_states

    run = CASES[case](services, secret, failing)
    for name, value in run.env.items():
        monkeypatch.setenv(name, value)
    dag_id = f"leak_{case}_{uuid.uuid4().hex[:6]}"
    write_workflow(dags_folder / f"{dag_id}.yaml", tmp_path / "staging", run, dag_id=dag_id)

    dag_run = run_dag(dags_folder, dag_id)

    states = task_states(dag_run)
    failed = "source" if failing and case != "om_jwt_token" else "sink"
    assert states[failed] == "failed", states
    if not failing:
        assert dead_letters(tmp_path / "staging")
    out, err = capfd.readouterr()
    assert "Traceback" in out + err or failed in out + err  # the task's log did reach the captured output
    outputs = {"stdout": out.encode(), "stderr": err.encode(), "xcom": run_xcoms(dag_run)}
    outputs |= files_under(tmp_path, Path(os.environ["AIRFLOW_HOME"]))
    assert leaks(outputs, run.secret) == []


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://me:p@ss/w#rd@db:5432/x", "postgresql://me:***@db:5432/x"),
        ("postgresql://me:p%40ss%2Fw%23rd%25%3A%3F@db/x", "postgresql://me:***@db/x"),
        ("mysql+pymysql://root:a:b?c@h:3306/", "mysql+pymysql://root:***@h:3306/"),
        (
            "postgresql://me@db/x?sslmode=require&sslpassword=k3y&app=y",
            "postgresql://me@db/x?sslmode=require&sslpassword=***&app=y",
        ),
        (
            "http://h/x?PassWord=a&pwd=b&passwd=c&token=d&access_token=e",
            "http://h/x?PassWord=***&pwd=***&passwd=***&token=***&access_token=***",
        ),
        (
            "http://h/x?api_key=f&APIKEY=g&secret=a&client_secret=b&q=1",
            "http://h/x?api_key=***&APIKEY=***&secret=***&client_secret=***&q=1",
        ),
        (
            "http://h/x?access_key=c&secret_key=d&X-Amz-Signature=e&sig=f",
            "http://h/x?access_key=***&secret_key=***&X-Amz-Signature=***&sig=***",
        ),
        ("https://h/cb#access_token=a/b@c&state=1", "https://h/cb#access_token=***&state=1"),
        ("postgresql://me@db:5432/x?password=s3cr#t@x/q%:?zz", "postgresql://me@db:***"),
        ("s3://aws_conn@bucket/prefix", "s3://aws_conn@bucket/prefix"),
        ("s3://AKIAKEY:se/cr@t@bucket/prefix", "s3://AKIAKEY:***@bucket/prefix"),
        ("elastic:changeme@es:9200", "elastic:***@es:9200"),
        (
            "host=db user=me password='a b\\'c' sslpassword=k dbname=x",
            "host=db user=me password=*** sslpassword=*** dbname=x",
        ),
        ("http://es:9200/_bulk?refresh=true", "http://es:9200/_bulk?refresh=true"),
    ],
)
def test_redact_url_hides_every_secret_of_a_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_redacts_urls_and_secret_pairs_in_free_text() -> None:
    text = (
        "cannot connect to postgresql://me:p@ss/w#rd@db/x: FATAL: password=hunter2 rejected; "
        "settings {'password': 'a b', \"api_key\": \"k\"}; header 'Bearer eyJhbGciOi.J9\\n'"
    )
    assert redact_text(text) == (
        "cannot connect to postgresql://me:***@db/x: FATAL: password=*** rejected; "
        "settings {'password': '***', \"api_key\": \"***\"}; header 'Bearer ***'"
    )


@given(user=st.text("abcdefghij", min_size=1, max_size=8), password=st.text(min_size=1, max_size=20))
@settings(max_examples=100)
def test_an_echoed_basic_authorization_header_is_hidden_in_any_spelling(user: str, password: str) -> None:
    """A server or proxy quoting the request's header: ``Basic`` credentials are base64 of ``user:password``, a
    form no known secret has (``Authorization=Basic <b64>`` was read as a pair whose value is ``Basic``)."""
    import base64

    credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
    for spelling in (
        f"headers were: Authorization=Basic {credentials}",
        f"Authorization: Basic {credentials}",
        f"{{'Authorization': 'Basic {credentials}'}}",
        f'{{"authorization": "Basic {credentials}"}}',
    ):
        assert credentials not in redact_text(spelling), spelling


def test_scrub_hides_every_form_of_a_known_secret(secret: str) -> None:
    message = f"{secret} | {quote(secret, safe='')} | {quote_plus(secret)} | {json.dumps(secret)} | {secret!r}"
    assert leaks({"message": scrub(message + "\n", [secret]).encode()}, secret) == []


SEPARATOR = st.sampled_from([" ", "\n", ": ", " (", ") ", ", ", "'", '"', " / ", " = ", "@", "[", "]", "%3D", "\\n"])
SECRET_TEXT = st.text(
    alphabet=st.characters(max_codepoint=0xFFFF, blacklist_categories=("Cs",), blacklist_characters="*"),
    min_size=MIN_LENGTH,
    max_size=20,
).filter(lambda value: len(value.strip()) >= MIN_LENGTH)
WORDISH = st.from_regex(r"[A-Za-z]{5,16}", fullmatch=True)
"""A secret that is also a word, or a part of one: ``postgres``, ``admin``, ``airflow``."""
TOKENISH = st.from_regex(r"[A-Za-z0-9_.-]{4,15}[0-9_.-][A-Za-z0-9_.-]{0,15}", fullmatch=True)
"""A secret with a digit or a sign: ``Hunter2Secret``, ``admin_1``, ``pg-prod.local``."""
LETTERS = st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=6)
WORDS = st.lists(st.from_regex(r"[a-z]{1,8}", fullmatch=True), min_size=1, max_size=6).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(secret=SECRET_TEXT, before=WORDS, after=WORDS, left=SEPARATOR, right=SEPARATOR)
def test_a_known_secret_standing_as_a_word_never_shows(
    secret: str, before: str, after: str, left: str, right: str
) -> None:
    """Whatever its characters, a secret written between blanks, quotes or punctuation is hidden, as are its
    percent-encoded and escaped forms."""
    for form in (secret, quote(secret, safe=""), json.dumps(secret)[1:-1]):
        message = f"{before}{left}{form}{right}{after}"
        assert not standing(scrub(message, [secret]), secret.strip()), message


@settings(max_examples=300, deadline=None)
@given(secret=WORDISH, head=LETTERS, tail=LETTERS, joiner=st.sampled_from(["", "-", "."]), words=WORDS)
def test_a_known_secret_inside_a_longer_word_is_never_masked(
    secret: str, head: str, tail: str, joiner: str, words: str
) -> None:
    """Masked inside a longer word (a host, a table's name, ``postgresql``), the masks would tell the secret: such
    words stay whole, and the secret standing alone in the same message is hidden."""
    assume(secret not in words.split())
    for glued in (f"{head}{joiner}{secret}", f"{secret}{joiner}{tail}", f"{head}{joiner}{secret}{joiner}{tail}"):
        if standing(glued, secret):  # a joiner beside a ``-`` or ``.`` the secret ends with
            continue
        message = f"{words} {glued}: {words}"
        assert scrub(message, [secret]) == message
        assert scrub(f"{message} ({secret})", [secret]) == f"{message} ({MASK})"


@settings(max_examples=300, deadline=None)
@given(secret=TOKENISH, head=LETTERS, tail=LETTERS, joiner=st.sampled_from(["", "-", "."]), words=WORDS)
def test_a_secret_with_a_digit_or_a_sign_is_hidden_inside_a_longer_word_too(
    secret: str, head: str, tail: str, joiner: str, words: str
) -> None:
    """No word ends in such a secret, so masks inside one tell nothing; left, the whole secret would show (a signed
    URL's token in a folder's name: ``published-Hunter2Secret``)."""
    for glued in (f"{head}{joiner}{secret}", f"{secret}{joiner}{tail}", f"{head}{joiner}{secret}{joiner}{tail}"):
        assert secret not in scrub(f"{words} {glued}: {words}", [secret])


@settings(max_examples=200, deadline=None)
@given(secret=st.text(min_size=1, max_size=MIN_LENGTH - 1).filter(str.strip), words=WORDS)
def test_a_short_secret_is_hidden_where_a_url_or_a_setting_holds_it_and_nowhere_else(secret: str, words: str) -> None:
    """A password ``a`` or ``1`` hidden wherever it is would mangle every message and tell itself."""
    message = f"{words} {secret} {words}"
    assert scrub(message, [secret]) == redact_text(message)
    url = f"postgresql+psycopg2://user:{quote(secret, safe='')}@db/x"
    assert scrub(f"cannot reach {url} now", [secret]) == "cannot reach postgresql+psycopg2://user:***@db/x now"
    assert scrub(f"dsn host=db password={quote(secret, safe='')}", [secret]) == "dsn host=db password=***"


@pytest.mark.parametrize(
    ("secrets", "message", "shown"),
    [
        (
            ["postgres"],
            "cannot reach postgresql+psycopg2://user:postgres@host/db: postgres refused",
            "cannot reach postgresql+psycopg2://user:***@host/db: *** refused",
        ),
        (
            ["postgres"],
            "table postgres.public.orders on postgres-prod",
            "table postgres.public.orders on postgres-prod",
        ),
        (["a", "1"], "1 record of a table failed", "1 record of a table failed"),
        (
            ["hunter22"],
            "password hunter22, not hunter222 nor hunter22_old.",
            "password ***, not ***2 nor ***_old.",
        ),
    ],
)
def test_masks_never_tell_the_secret(secrets: list[str], message: str, shown: str) -> None:
    assert scrub(message, secrets) == shown


URL_TEXT = st.text(alphabet=st.characters(max_codepoint=0xFFFF, blacklist_categories=("Cs",)), min_size=1, max_size=30)
FILE_TEXT = URL_TEXT.filter(lambda value: "\x00" not in value)
"""Text a workflow file may hold: no NUL character (refused wherever it is, before anything else is checked)."""
NAME = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
HOST = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5})?(:[0-9]{2,5})?", fullmatch=True)
PATH = st.from_regex(r"(/[A-Za-z0-9_.-]{0,8}){0,3}", fullmatch=True)
PLAIN_QUERY = st.from_regex(r"(\?[a-z]{1,5}=[A-Za-z0-9]{0,5}(&[a-z]{1,5}=[A-Za-z0-9]{0,5}){0,2})?", fullmatch=True)
SCHEME = st.sampled_from(["postgresql+psycopg2", "mysql+pymysql", "http", "https", "s3"])
SECRET_PARAMETER = st.sampled_from(
    [
        *("password", "passwd", "pwd", "token", "access_token", "api_key", "apikey", "secret", "client_secret"),
        *("access_key", "secret_key", "sslpassword", "X-Api-Key", "Sig"),
    ]
).flatmap(lambda name: st.sampled_from([name, name.upper(), name.title()]))


@settings(max_examples=300, deadline=None)
@given(scheme=SCHEME, user=NAME, password=URL_TEXT, host=HOST, path=PATH, query=PLAIN_QUERY, encoded=st.booleans())
def test_a_url_password_never_shows(
    scheme: str, user: str, password: str, host: str, path: str, query: str, encoded: bool
) -> None:
    written = quote(password, safe="") if encoded else password
    url = f"{scheme}://{user}:{written}@{host}{path}{query}"
    assert redact_url(url) == f"{scheme}://{user}:***@{host}{path}{query}"
    assert redact_text(f"cannot reach {url} now") == f"cannot reach {scheme}://{user}:***@{host}{path}{query} now" or (
        any(char.isspace() for char in written)
    )


@settings(max_examples=300, deadline=None)
@given(
    scheme=SCHEME,
    host=HOST,
    path=PATH,
    name=SECRET_PARAMETER,
    value=URL_TEXT.filter(lambda value: "&" not in value and ";" not in value),
    encoded=st.booleans(),
    fragment=st.booleans(),
)
def test_a_secret_parameter_never_shows(
    scheme: str, host: str, path: str, name: str, value: str, encoded: bool, fragment: bool
) -> None:
    written = quote(value, safe="") if encoded else value
    mark = "#" if fragment else "?"
    url = f"{scheme}://{host}{path}{mark}a=1&{name}={written}&b=2"
    redacted = redact_url(url)
    if "@" in written and ":" in host:  # ambiguous: read as user:password@, hidden from the port on
        assert redacted.startswith(f"{scheme}://{host.split(':')[0]}:***")
        assert redacted.endswith("&b=2") or redacted.endswith("***")
    else:
        assert redacted == f"{scheme}://{host}{path}{mark}a=1&{name}=***&b=2"


def workflow_text(setting: str) -> str:
    """A workflow file whose file source's path is ``setting`` (JSON is YAML)."""
    return json.dumps({"source": {"type": "file", "config": {"path": setting}}, "sink": {"type": "console"}})


def refusals(text: str) -> list[str]:
    """The inline-secret problems of a workflow file."""
    try:
        load_workflow("leak.yaml", text)
    except WorkflowFileError as error:
        return [str(problem) for problem in error.problems if "inline" in problem.message]
    return []


@settings(max_examples=200, deadline=None)
@given(
    scheme=SCHEME, user=NAME, password=FILE_TEXT, host=HOST, path=PATH, name=SECRET_PARAMETER, form=st.integers(0, 2)
)
def test_validate_refuses_every_inline_password_and_takes_a_reference(
    scheme: str, user: str, password: str, host: str, path: str, name: str, form: int
) -> None:
    urls = [
        f"{scheme}://{user}:{{}}@{host}{path}",
        f"{scheme}://{host}{path}?a=1&{name}={{}}",
        f"{scheme}://{host}{path}#{name}={{}}",
    ]
    if form and ("&" in password or ";" in password):
        password = quote(password, safe="")
    assert refusals(workflow_text(urls[form].format(password))), urls[form].format(password)
    assert not refusals(workflow_text(urls[form].format("${LEAK_VAR}")))


@settings(max_examples=200, deadline=None)
@given(
    scheme=SCHEME,
    user=NAME,
    password=FILE_TEXT.filter(lambda value: not any(char.isspace() for char in value)),
    host=HOST,
    name=SECRET_PARAMETER,
    form=st.integers(0, 1),
    words=WORDS,
    where=st.sampled_from(["config", "description", "owner", "tag", "param"]),
)
def test_validate_refuses_an_inline_password_of_a_url_inside_a_longer_text(
    scheme: str, user: str, password: str, host: str, name: str, form: int, words: str, where: str
) -> None:
    """A URL in a sentence is a URL: its password is refused as a whole URL's is, wherever the text is (it was
    shown as written in the DAG's description, docs, owner, tags and params, and in the task's settings)."""
    url = [f"{scheme}://{user}:{{}}@{host}/x", f"{scheme}://{host}/x?a=1&{name}={{}}"][form]
    if form and ("&" in password or ";" in password):
        password = quote(password, safe="")

    def file(text: str) -> str:
        workflow: dict[str, Any] = {
            "source": {"type": "file", "config": {"path": "in.jsonl"}},
            "sink": {"type": "console"},
        }
        if where == "config":
            workflow["source"]["config"]["path"] = text
        elif where == "description":
            workflow["description"] = text
        else:
            workflow["airflow"] = {"owner": text} if where == "owner" else {"tags": [text]}
            workflow["airflow"] = {"params": {"note": text}} if where == "param" else workflow["airflow"]
        return json.dumps(workflow)

    assert refusals(file(f"{words} {url.format(password)} {words}")), url.format(password)
    assert not refusals(file(f"{words} {url.format('${LEAK_VAR}')} {words}"))


def test_substitute_collects_the_password_of_a_url_inside_a_longer_text() -> None:
    """Resolved there, it is percent-encoded as in a whole URL, and hidden from messages."""
    secrets: set[str] = set()
    config = {"query": "SELECT * FROM dblink('postgresql://me:${LEAK_VAR}@db/x', 'SELECT 1')"}
    resolved = substitute(config, {"LEAK_VAR": "p@ss word"}, secrets=secrets)
    assert resolved["query"] == "SELECT * FROM dblink('postgresql://me:p%40ss%20word@db/x', 'SELECT 1')"
    assert {"p@ss word", "p%40ss%20word"} <= secrets
    assert (
        scrub(f"failed: {resolved['query']}", secrets)
        == "failed: SELECT * FROM dblink('postgresql://me:***@db/x', 'SELECT 1')"
    )


@pytest.mark.parametrize(
    "setting",
    [
        {"password": "hunter2"},
        {"password": 123456},
        {"jwtToken": "eyJ"},
        {"sslpassword": "k"},
        {"pwd": "x"},
        {"client_secret": "x"},
        {"credentials": {"private_key": "-----BEGIN"}},
        {"credentials": ["abc"]},
        {"dsn": "host=db user=me password=hunter2"},
        {"url": "postgresql://me:hunter2@db/x"},
        {"url": "postgresql://me@db/x?sslpassword=k"},
        {"hosts": ["http://elastic:changeme@es:9200"]},
    ],
)
def test_validate_refuses_each_inline_form(setting: dict[str, Any]) -> None:
    text = json.dumps(
        {"source": {"type": "file", "config": {"path": "in.jsonl", **setting}}, "sink": {"type": "console"}}
    )
    assert refusals(text)


def test_validate_takes_references_and_connection_ids() -> None:
    config = {
        "password": "${PW}",
        "jwtToken": "${TOKEN}",
        "url": "postgresql://${USER}:${PW}@db/x?sslpassword=${KEY}&sslmode=require",
        "dsn": "host=db password=${PW}",
        "whole": "${DB_URL}",
        "staging": "s3://aws_conn@bucket/prefix",
        "verify_token": False,
    }
    text = json.dumps(
        {"source": {"type": "file", "config": {"path": "in.jsonl", **config}}, "sink": {"type": "console"}}
    )
    assert refusals(text) == []


@pytest.mark.parametrize("root", ["s3://key:s3cret@bucket/x", "s3://${KEY}:${SECRET}@bucket/x", "s3://b/x?sig=${S}"])
def test_staging_root_names_a_connection_never_a_secret(root: str) -> None:
    """Staged files' URIs travel in XCom and messages: a secret in the staging root is refused, even as ${ENV}."""
    text = json.dumps({"source": {"type": "file", "config": {"path": "x"}}, "workflow": {"staging_root": root}})
    with pytest.raises(WorkflowFileError) as raised:
        load_workflow("leak.yaml", text)
    problems = [
        problem for problem in raised.value.problems if "inline" in problem.message or "never" in problem.message
    ]
    assert [problem.field for problem in problems] == ["workflow.staging_root"]
    text = json.dumps({"source": {"type": "file", "config": {"path": "x"}}, "workflow": {"staging_root": "s3://c@b/x"}})
    assert not refusals(text)


@settings(max_examples=200, deadline=None)
@given(value=URL_TEXT.filter(lambda value: value.strip() and "${" not in value and "*" not in value))
def test_substitute_and_secret_values_collect_every_secret_position(value: str) -> None:
    env = {"LEAK_VAR": value, "LEAK_USER": "reader"}
    config = {
        "password": "${LEAK_VAR}",
        "nested": {"credentials": ["${LEAK_VAR}"]},
        "url": "postgresql://${LEAK_USER}:${LEAK_VAR}@db/x",
        "query": "http://h/x?sslmode=disable&token=${LEAK_VAR}",
        "dsn": "host=db user=${LEAK_USER} password=${LEAK_VAR}",
        "whole": "postgresql://reader:" + quote(value, safe="") + "@db/x",
        "name": "${LEAK_USER}",
    }
    secrets: set[str] = set()
    resolved = substitute(config, env, secrets=secrets)
    assert {value, quote(value, safe="")} <= secrets and "reader" not in secrets
    assert secret_values(config, env) == secrets
    assert resolved["url"] == f"postgresql://reader:{quote(value, safe='')}@db/x"
    assert redact_url(resolved["url"]) == "postgresql://reader:***@db/x"
    assert redact_url(resolved["query"]) == "http://h/x?sslmode=disable&token=***"
    message = f"failed: {resolved} / {value!r} / {json.dumps(value)}"
    scrubbed = scrub(message, secrets)
    assert "postgresql://reader:***@db/x" in scrubbed  # a URL's password, whatever its length
    if len(value) >= MIN_LENGTH:  # a shorter one is hidden where a URL, a connection string or a setting holds it
        for form in (value, quote(value, safe=""), repr(value)[1:-1], json.dumps(value)[1:-1]):
            assert not standing(scrubbed, form)


@pytest.mark.postgres
def test_an_airflow_connections_secrets_are_registered_with_the_masker_and_the_run(
    secret: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    from airflow_provider_ingest.api import RunContext
    from airflow_provider_ingest.sources.sql.source import SqlSource

    key = f"k3y-{secret}"
    connection = {"conn_type": "postgres", "login": "postgres", "password": secret, "host": "127.0.0.1"}
    connection |= {"port": 5432, "schema": "postgres", "extra": {"sqlalchemy_query": {"sslpassword": key}}}
    monkeypatch.setenv("AIRFLOW_CONN_LEAK_REGISTERED", json.dumps(connection))
    context = RunContext(workflow_name="w", run_id="r", staging_root=str(tmp_path), base_dir=tmp_path)
    source = SqlSource.create({"conn_id": "leak_registered"}, context)
    source.prepare()
    source.close()
    assert {secret, quote(secret, safe=""), key, quote(key, safe="")} <= context.secrets
    line = f"password {secret} in {quote(secret, safe='')}, key {quote(key, safe='')}"
    assert redact(line) == "password *** in ***, key ***"


@pytest.mark.parametrize(
    "text",
    [
        "x" * 100_000 + "=",
        "a+" * 50_000,
        "'" * 100_000,
        "a='" * 30_000,
        '"password":' * 20_000,
        "http://h?" + "a=&" * 30_000,
        "a:b@" * 30_000,
        "x=y " * 30_000 + "x='",
    ],
    ids=range(8),
)
def test_redacting_takes_linear_time(text: str) -> None:
    """Messages and settings of any shape are redacted quickly (no regular expression backtracks without end).

    Counted in this process's CPU seconds, which other work on a busy machine does not inflate: each takes about
    0.02-0.13 s here, while a backtracking pattern would take minutes on these 100,000 characters."""
    import time

    started = time.process_time()
    secret_spans(text), redact_url(text), redact_text(text), scrub(text, ["s3cr3t"])
    assert time.process_time() - started < 5.0


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("# password: hunter2", "# password: ***"),
        ("  #   jwt_token: eyJhbGciOi.abc.def  ", "  #   jwt_token: ***"),
        ("    url: postgresql://u@h/db  # was postgresql://admin:Sup3r@db/shop", None),
        ('# "api_key": "abc" and more', '# "api_key": ***'),
        ("# token: ${OM_TOKEN}", "# token: ${OM_TOKEN}"),
        ("    password: ${PG_PASSWORD}", "    password: ${PG_PASSWORD}"),
        ('    description: "a # b password: kept, not a comment"', None),
        ("    url: sqlite:///x.db#password: not a comment", None),
        (
            "description: log in with password=hunter2 or Bearer eyJhbGciOi.abc",
            "description: log in with password=*** or Bearer ***",
        ),
        (
            "    dsn: host=db password=${PG_PASSWORD}  # password=hunter2",
            "    dsn: host=db password=${PG_PASSWORD}  # password=***",
        ),
        ("    url: postgresql://u:${PG_PASSWORD}@db/x?token='${T}'", None),
        (
            '  {"api_key": "${KEY}", "note": "\'token\': \'abc\'"}',
            '  {"api_key": "${KEY}", "note": "\'token\': \'***\'"}',
        ),
    ],
)
def test_a_workflow_file_as_shown_loses_its_secrets_and_keeps_its_references(line: str, shown: str | None) -> None:
    """Comments, and free text outside them (a description), are hidden as messages are; ``${NAME}`` references stay:
    they are no secret."""
    from airflow_provider_ingest.secrets import redact_workflow_text

    redacted = redact_workflow_text(f"source:\n{line}\n")
    expected = line if shown is None else shown
    if "Sup3r" in line:
        expected = line.replace("Sup3r", "***")
    assert redacted == f"source:\n{expected}\n"


def test_an_openmetadata_answer_cut_at_its_length_limit_shows_no_part_of_the_token(tmp_path: Path) -> None:
    """The server's text is hidden first, then cut: cut first, the token's head was left where the cut fell."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    from airflow_provider_ingest.openmetadata.client import OpenMetadataClient, Settings

    token = "omTok.abc123XYZ-" + uuid.uuid4().hex[:8].translate(NOT_HEX)

    class Echo(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = json.dumps({"echo": "x" * 470 + self.headers["Authorization"]}).encode()  # the token at the cut
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    Thread(target=server.serve_forever, daemon=True).start()
    client = OpenMetadataClient(Settings(server_url=f"http://127.0.0.1:{server.server_address[1]}", token=token))
    try:
        with pytest.raises(Exception) as error:
            client.request("PUT", "/api/v1/tables", {"name": "t"})
    finally:
        client.close()
        server.shutdown()
    assert "400" in str(error.value) and not [piece for piece in pieces(token, 5) if piece in str(error.value)]


@pytest.mark.airflow
def test_the_connection_forms_test_button_shows_no_secret_the_server_echoes(monkeypatch: pytest.MonkeyPatch) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    from airflow_provider_ingest.elasticsearch.hook import ElasticsearchIngestHook
    from airflow_provider_ingest.openmetadata.hook import OpenMetadataHook

    password = "HookPw-" + uuid.uuid4().hex[:8].translate(NOT_HEX)

    class Echo(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"error": f"bad request; you sent {self.headers.get('Authorization')} {password}"})
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    es = {"conn_type": "ingest_elasticsearch", "host": url, "login": "elastic", "password": password}
    om = {"conn_type": "openmetadata", "host": url, "password": password}
    monkeypatch.setenv("AIRFLOW_CONN_ECHO_ES", json.dumps(es))
    monkeypatch.setenv("AIRFLOW_CONN_ECHO_OM", json.dumps(om))
    try:
        answers = [ElasticsearchIngestHook("echo_es").test_connection(), OpenMetadataHook("echo_om").test_connection()]
    finally:
        server.shutdown()
    basic = base64.b64encode(f"elastic:{password}".encode()).decode()
    assert [ok for ok, _ in answers] == [False, False]
    assert not [text for _, text in answers if password in text or basic in text], answers
