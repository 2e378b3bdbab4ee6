"""The lab's FastAPI app: a small real service that fedgen's real-image tests deploy.

It listens on 0.0.0.0:$PORT (default 8000) and reports what it can reach, so a test can tell from
inside the stack whether networks, secrets and health gates are right. Every answer is JSON except
/metrics. Environment: DATABASE_URL (+ DB_PASSWORD_FILE), REDIS_URL, any *_URL starting with
http:// (probed at <url>/health), PORT. METRICS_PORT is accepted but not served on.
"""

import hashlib
import os
import socket
import urllib.request
from pathlib import Path

import psycopg
import redis
import uvicorn
from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, PlainTextResponse

SECRETS = Path("/run/secrets")
app = FastAPI(title="fedgen lab app")
requests_total = 0


@app.middleware("http")
async def count_requests(request, call_next):
    global requests_total
    requests_total += 1
    return await call_next(request)


def database():
    """A connection to DATABASE_URL, with the password read from DB_PASSWORD_FILE if set."""
    extra = {}
    if os.environ.get("DB_PASSWORD_FILE"):
        # like the shell's $(< file), which the postgres entrypoint uses: trailing newlines dropped
        extra["password"] = Path(os.environ["DB_PASSWORD_FILE"]).read_text().rstrip("\n")
    return psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=3, **extra)


def outcome(probe):
    try:
        probe()
        return "ok"
    except Exception as e:  # a probe reports any failure, it never raises
        return f"error: {type(e).__name__}: {e}".strip()


def check_database():
    with database() as conn:
        conn.execute("SELECT 1").fetchone()


def check_redis():
    r = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=3, socket_connect_timeout=3)
    if not r.ping():
        raise RuntimeError("no PONG")


def check_http(url):
    with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=3) as response:
        if not 200 <= response.status < 300:
            raise RuntimeError(f"HTTP {response.status}")


@app.get("/health")
def health():
    return {"status": "ok"}


@app.get("/check")
def check():
    result = {}
    if os.environ.get("DATABASE_URL"):
        result["database"] = outcome(check_database)
    if os.environ.get("REDIS_URL"):
        result["redis"] = outcome(check_redis)
    result["http"] = {
        name: outcome(lambda url=value: check_http(url))
        for name, value in sorted(os.environ.items())
        if name.endswith("_URL") and value.startswith("http://")
    }
    ok = all(v == "ok" for v in [*result["http"].values(), result.get("database", "ok"), result.get("redis", "ok")])
    return JSONResponse(result, status_code=200 if ok else 503)


@app.get("/resolve/{host}")
def resolve(host: str):
    try:
        socket.getaddrinfo(host, None)
        return {"host": host, "resolves": True}
    except OSError:
        return {"host": host, "resolves": False}


@app.get("/secret/{name}")
def secret(name: str):
    path = SECRETS / name
    if name.startswith(".") or not path.is_file():
        raise HTTPException(404, f"no secret {name}")
    return {"name": name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


@app.post("/rows")
def add_row(value: str):
    with database() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS fedgen_rows (value text)")
        conn.execute("INSERT INTO fedgen_rows (value) VALUES (%s)", (value,))
    return {"inserted": value}


@app.get("/rows")
def rows():
    with database() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS fedgen_rows (value text)")
        return {"rows": [v for (v,) in conn.execute("SELECT value FROM fedgen_rows")]}


@app.get("/metrics", response_class=PlainTextResponse)
def metrics():
    return f"fedgen_lab_requests_total {requests_total}\n"


if __name__ == "__main__":
    uvicorn.run(app, host="0.0.0.0", port=int(os.environ.get("PORT", "8000")))
