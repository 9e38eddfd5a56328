"""A throwaway PostgreSQL server for the tests: the system's initdb/pg_ctl in a private temp dir.

No mocks and no network: the server listens on a unix socket inside its own temp dir only, with
fsync off (a test cluster). PostgreSQL refuses to run as root, so as root the binaries run as the
`postgres` system user. The cluster uses ICU en-US collation, like a typical team server, so that
ordering that would differ from SQLite's byte order shows up in the tests.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

BINARIES = ("initdb", "pg_ctl", "postgres")
PORT = 5432  # only names the socket file inside our private dir: no clash with any other server


def _version_key(bindir: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", bindir))


def find_bindir() -> tuple[Path | None, str]:
    """(dir holding initdb, pg_ctl and postgres, "") or (None, why not found)."""
    candidates: list[str] = []
    if os.environ.get("LORA_PG_BINDIR"):
        candidates.append(os.environ["LORA_PG_BINDIR"])
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(out.stdout.strip())
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb")).parent))
    for c in candidates:
        if all((Path(c) / b).is_file() for b in BINARIES):
            return Path(c), ""
    return None, ("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in $LORA_PG_BINDIR, "
                  f"/usr/lib/postgresql/*/bin, `pg_config --bindir` or PATH (looked in {candidates or 'none'})")


class PostgresServer:
    """initdb + pg_ctl start in a fresh temp dir; `url(db)` gives a SQLAlchemy psycopg URL."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.dir: Path | None = None
        self._user: dict = {}
        self._dbs = 0

    def _run(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bindir / argv[0]), *argv[1:]], capture_output=True, text=True,
                              cwd=self.dir, check=False, **self._user)

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and there is no `postgres` system user to run the "
                                   "PostgreSQL server as (it refuses to run as root)") from None
            self._user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        # mkdtemp under /tmp: short (a unix socket path is at most 107 bytes) and not inside a dir
        # the postgres user cannot enter (pytest's tmp dirs are private to root).
        self.dir = Path(tempfile.mkdtemp(prefix="lora-pg-"))
        if self._user:
            os.chown(self.dir, self._user["user"], self._user["group"])
        data = self.dir / "data"
        common = ["initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]
        init = self._run(*common, "--locale=C.UTF-8", "--locale-provider=icu", "--icu-locale=en-US")
        if init.returncode != 0:  # a build without ICU: libc collation
            shutil.rmtree(data, ignore_errors=True)
            init = self._run(*common, "--locale=C.UTF-8")
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
        opts = f"-k {self.dir} -p {PORT} -c listen_addresses='' -c fsync=off -c full_page_writes=off -c max_connections=200"
        started = self._run("pg_ctl", "-D", str(data), "-l", str(self.dir / "server.log"), "-w", "-t", "30",
                            "-o", opts, "start")
        if started.returncode != 0:
            log = (self.dir / "server.log").read_text(errors="replace") if (self.dir / "server.log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed:\n{started.stdout}\n{started.stderr}\n{log}")
        return self

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@/{dbname}?host={self.dir}&port={PORT}"

    def create_database(self) -> str:
        """A fresh empty database (about 20 ms); returns its URL."""
        import psycopg

        self._dbs += 1
        name = f"t{self._dbs}"
        with psycopg.connect(host=str(self.dir), port=PORT, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.dir is None:
            return
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
