"""Private database servers for tests: a PostgreSQL cluster or a MariaDB server of their own, started on demand.

The machine's servers (PostgreSQL on 5432, MariaDB on 3306) cannot be restarted with other settings
(``shared_preload_libraries``, ``performance_schema``), so a test that needs them starts a private server
from the installed binaries: a temporary folder, a port on 127.0.0.1 from :func:`unused_port` (started again on
another when that one turns out to be taken), its socket in that folder, no
durability (fsync off, in /dev/shm where there is one). Started as root, the server runs as an unprivileged
user (``postgres``/``mysql``, else ``nobody``), which owns the folder. Each is stopped and its folder deleted
by :meth:`stop` (also at interpreter exit if a test run forgot). Use them as context managers::

    with private_postgres({"shared_preload_libraries": "'pg_stat_statements'"}) as server:
        engine = sqlalchemy.create_engine(server.url())

A server that cannot start raises :class:`ServerStartError` with the end of its log. Missing binaries:
:func:`require` skips with the reason, or fails when ``CI`` is set.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

START_TIMEOUT = 60.0
"""Seconds a server may take to accept connections."""
START_ATTEMPTS = 5
"""Starts of a server, each on another port, while the port chosen turns out to be in use."""


class ServerStartError(RuntimeError):
    """A private server did not start; the message holds the end of its log."""


def require(what: str, found: object) -> None:
    """Skip with a visible reason when ``found`` is empty (binaries missing), or fail if ``CI`` is set."""
    if found:
        return
    reason = f"{what} not found on this machine"
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
    pytest.skip(reason)


def unused_port() -> int:
    """A TCP port on 127.0.0.1 for a server that must be told its port before it binds it (PostgreSQL, MariaDB,
    Airflow's API server); free when chosen.

    Chosen at random *below* the kernel's ephemeral range (``ip_local_port_range``), never in it: a port the kernel
    hands out (a bind to port 0, an outgoing connection) is never one of these, so only another caller of this
    function can take it before the server binds it; the caller then starts its server again with another port
    when the server says the address is in use. (Binding port 0, closing, and handing the number on instead
    gives a port the kernel may give the very next process that asks.)
    """
    low = _ephemeral_start()
    while True:
        port = random.randrange(max(1024, low - 16384), low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:  # in use, or in TIME_WAIT
                continue
        return port


def _ephemeral_start() -> int:
    """The first port of the kernel's ephemeral range (Linux's default 32768 elsewhere)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 where connections are refused, for as long as the block runs: bound by this process and
    not listening, so that no other process can start listening on it meanwhile."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def address_in_use(log: str) -> bool:
    """Whether a server's log says it could not bind its port (PostgreSQL, MariaDB, uvicorn)."""
    text = log.lower()
    return "address already in use" in text or "could not bind" in text


def service_user(*candidates: str) -> str | None:
    """The unprivileged user a server runs as when the tests run as root (None when they do not)."""
    if os.geteuid() != 0:
        return None
    for name in (*candidates, "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise ServerStartError("running as root and no unprivileged user to run a database server as")


def _folder(prefix: str, owner: str | None) -> Path:
    """A new folder for a server's files: in memory (/dev/shm) where there is one, as a server's fsyncs cost
    seconds on a busy disk."""
    memory = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=memory))
    if owner is not None:
        entry = pwd.getpwnam(owner)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    return folder


def _as(owner: str | None, command: Sequence[str]) -> list[str]:
    return ["runuser", "-u", owner, "--", *command] if owner is not None else list(command)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


_running: set[PrivateServer] = set()


class PrivateServer:
    """A server this test process started; :meth:`stop` ends it and deletes its folder."""

    folder: Path
    port: int

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> PrivateServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        with contextlib.suppress(Exception):
            server.stop()


# --- PostgreSQL -------------------------------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder holding initdb and pg_ctl (Debian layout), or None."""
    found = [Path(path) for path in glob.glob("/usr/lib/postgresql/*/bin")]
    found = [path for path in found if (path / "initdb").is_file() and (path / "pg_ctl").is_file()]

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in path.parent.name.split(".") if part.isdigit())

    return max(found, key=version) if found else None


@dataclass(eq=False)
class PrivatePostgres(PrivateServer):
    """A PostgreSQL cluster of its own; the superuser ``postgres`` logs in without a password (trust)."""

    folder: Path
    port: int
    bin: Path
    owner: str | None
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, user: str = "postgres", database: str = "postgres") -> str:
        return f"postgresql+psycopg2://{user}@127.0.0.1:{self.port}/{database}"

    def pg_ctl(self, *arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = _as(self.owner, [str(self.bin / "pg_ctl"), "-D", str(self.data), *arguments])
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=START_TIMEOUT)

    def stop(self) -> None:
        """Stop the cluster (immediately: nothing in it is kept) and delete its folder."""
        _running.discard(self)
        try:
            if (self.data / "postmaster.pid").exists():
                self.pg_ctl("-m", "immediate", "-w", "stop", check=False)
            pid_file = self.data / "postmaster.pid"
            if pid_file.exists():  # pg_ctl could not stop it
                with contextlib.suppress(ValueError, ProcessLookupError, OSError):
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def start_postgres(settings: Mapping[str, str] | None = None) -> PrivatePostgres:
    """initdb a cluster in a temporary folder and start it on an unused port with ``settings`` in postgresql.conf."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise ServerStartError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
    owner = service_user("postgres")
    folder = _folder("ingest-test-pg-", owner)
    server = PrivatePostgres(folder, 0, bin_dir, owner, dict(settings or {}))
    _running.add(server)
    try:
        initdb = [str(bin_dir / "initdb"), "-D", str(server.data), "-U", "postgres", "-A", "trust", "--no-sync"]
        done = subprocess.run(
            _as(owner, [*initdb, "-E", "UTF8", "--locale=C"]), capture_output=True, text=True, timeout=START_TIMEOUT
        )
        if done.returncode != 0:
            raise ServerStartError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
        for _attempt in range(START_ATTEMPTS):  # another test process may take the port first
            server.port = unused_port()
            conf = {
                "listen_addresses": "'127.0.0.1'",
                "port": str(server.port),
                "unix_socket_directories": f"'{folder}'",
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
                "max_connections": "30",
                **server.settings,
            }
            with open(server.data / "postgresql.auto.conf", "w") as handle:
                handle.writelines(f"{name} = {value}\n" for name, value in conf.items())
            log = folder / "server.log"
            started = server.pg_ctl("-l", str(log), "-w", "-t", str(int(START_TIMEOUT)), "start", check=False)
            if started.returncode == 0:
                return server
            if not address_in_use(_tail(log)):
                raise ServerStartError(f"PostgreSQL did not start: {started.stderr.strip()}\n{_tail(log)}")
        raise ServerStartError(f"PostgreSQL did not start (each port tried was taken):\n{_tail(folder / 'server.log')}")
    except BaseException:
        server.stop()
        raise


@contextlib.contextmanager
def private_postgres(settings: Mapping[str, str] | None = None) -> Iterator[PrivatePostgres]:
    """A private PostgreSQL cluster for the ``with`` block (skipped, or failed under CI, without binaries)."""
    require("PostgreSQL's initdb and pg_ctl (/usr/lib/postgresql/*/bin)", postgres_bin())
    server = start_postgres(settings)
    try:
        yield server
    finally:
        server.stop()


# --- MariaDB ----------------------------------------------------------------------------------------------------


def mariadb_binaries() -> tuple[str, str] | None:
    """(mariadb-install-db, mariadbd) when both are installed, else None."""
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    server = next(
        (path for path in ("/usr/sbin/mariadbd", shutil.which("mariadbd")) if path and os.path.isfile(path)), None
    )
    return (install, server) if install and server else None


@dataclass(eq=False)
class PrivateMariaDB(PrivateServer):
    """A MariaDB server of its own; ``root`` logs in from 127.0.0.1 without a password."""

    folder: Path
    port: int
    owner: str | None
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.folder / "mysqld.sock"

    def url(self, user: str = "root", database: str = "", password: str | None = None) -> str:
        secret = f":{password}" if password else ""
        return f"mysql+pymysql://{user}{secret}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 30 s) and delete its folder."""
        _running.discard(self)
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def start_mariadb(options: Sequence[str] = ()) -> PrivateMariaDB:
    """mariadb-install-db a data folder and start mariadbd on an unused port with the extra ``options``."""
    binaries = mariadb_binaries()
    if binaries is None:
        raise ServerStartError("mariadb-install-db and mariadbd are not installed")
    install, daemon = binaries
    owner = service_user("mysql")
    folder = _folder("ingest-test-mariadb-", owner)
    server = PrivateMariaDB(folder, 0, owner)
    _running.add(server)
    user = [f"--user={owner}"] if owner else []
    data = folder / "data"
    try:
        done = subprocess.run(
            [
                install,
                "--no-defaults",
                f"--datadir={data}",
                *user,
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
        )
        if done.returncode != 0:
            raise ServerStartError(f"mariadb-install-db failed: {done.stderr.strip()[-2000:]}")
        for _attempt in range(START_ATTEMPTS):
            server.port = unused_port()
            log = folder / "server.log"
            server.process = subprocess.Popen(
                [
                    daemon,
                    "--no-defaults",
                    f"--datadir={data}",
                    *user,
                    f"--port={server.port}",
                    "--bind-address=127.0.0.1",
                    f"--socket={server.socket}",
                    f"--pid-file={folder / 'mysqld.pid'}",
                    f"--log-error={log}",
                    "--skip-log-bin",
                    "--innodb-buffer-pool-size=16M",
                    "--innodb-flush-log-at-trx-commit=0",
                    *options,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if _wait_for_mariadb(server):
                return server
            if not address_in_use(_tail(log)):
                raise ServerStartError(f"mariadbd did not start:\n{_tail(log)}")
        raise ServerStartError(f"mariadbd did not start (each port tried was taken):\n{_tail(folder / 'server.log')}")
    except BaseException:
        server.stop()
        raise


def _wait_for_mariadb(server: PrivateMariaDB) -> bool:
    """Whether the server accepts connections within the timeout (False as soon as it exits)."""
    import pymysql

    deadline = time.monotonic() + START_TIMEOUT
    assert server.process is not None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            # through this server's own socket: another server that took the port is never mistaken for it
            pymysql.connect(unix_socket=str(server.socket), user="root", connect_timeout=2).close()
            return True
        except pymysql.err.OperationalError:
            time.sleep(0.1)
    server.process.kill()
    server.process.wait(timeout=10)
    return False


@contextlib.contextmanager
def private_mariadb(options: Sequence[str] = ()) -> Iterator[PrivateMariaDB]:
    """A private MariaDB server for the ``with`` block (skipped, or failed under CI, without binaries)."""
    require("mariadb-install-db and mariadbd", mariadb_binaries())
    server = start_mariadb(options)
    try:
        yield server
    finally:
        server.stop()
