#!/usr/bin/env python3
# Copyright 2026 queue-job-runner contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Plays the addon for tests: the bridge endpoint over plain HTTP, without Odoo.

    python3 serve.py --dsn postgres://... [--token-sha256 HEX[,HEX]] [--port 0] [--host 127.0.0.1]

Prints exactly ``listening on <port>`` on stdout when ready; exits 0 on SIGTERM or SIGINT (and
when stdin closes, with --watch-stdin). POST /queue_job_runner_bridge/run answers exactly what the
Odoo controller answers for the same input: both are shells around core.respond(). Without
--token-sha256 the digest is read, per request, from the database's ir_config_parameter like the
controller does. Any other path answers 404 (as Odoo does without the addon).
"""

import argparse
import os
import signal
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import psycopg2.extensions

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import core  # noqa: E402  (the addon's core, next to this folder)

ROUTE = "/queue_job_runner_bridge/run"
# Odoo names every connection odoo-<pid> (its ODOO_PGAPPNAME): the addon runs on an Odoo connection,
# which the runner's liveness signal sees, so this stand-in does too.
APPLICATION_NAME = "odoo-%d" % os.getpid()


class Pool(object):
    """A few idle connections kept for reuse; a broken or busy one is closed instead."""

    def __init__(self, dsn, keep=8):
        self._dsn = dsn
        self._keep = keep
        self._idle = []
        self._lock = threading.Lock()

    def take(self):
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return psycopg2.connect(self._dsn, application_name=APPLICATION_NAME)

    def give(self, connection):
        idle = (
            not connection.closed
            and connection.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
        )
        with self._lock:
            if idle and len(self._idle) < self._keep:
                self._idle.append(connection)
                return
        connection.close()

    def close(self):
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


class PooledCursor(object):
    """A cursor on a pooled connection in a fresh transaction; close() returns the connection."""

    def __init__(self, pool):
        self._pool = pool
        self.connection = pool.take()
        self._cursor = self.connection.cursor()

    def execute(self, query, params=None):
        return self._cursor.execute(query, params)

    @property
    def description(self):
        return self._cursor.description

    @property
    def rowcount(self):
        return self._cursor.rowcount

    def fetchall(self):
        return self._cursor.fetchall()

    def commit(self):
        self.connection.commit()

    def rollback(self):
        self.connection.rollback()

    def close(self):
        try:
            self._cursor.close()
        finally:
            self._pool.give(self.connection)


def stored_hash_reader(pool, fixed):
    if fixed is not None:
        return lambda: fixed

    def read():
        # What ir.config_parameter.get_param reads, outside the request's transaction.
        connection = pool.take()
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT value FROM ir_config_parameter WHERE key = %s", (core.TOKEN_PARAMETER,)
                )
                row = cursor.fetchone()
            connection.rollback()
        finally:
            pool.give(connection)
        return row[0] if row else None

    return read


def make_handler(pool, stored_hash, catalogue, db):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "qjr-bridge-serve"

        def _declared_length(self):
            try:
                return max(int(self.headers.get("Content-Length") or 0), 0)
            except ValueError:
                return None

        def _read_body(self, limit):
            declared = self._declared_length() or 0
            body = self.rfile.read(min(declared, limit + 1))
            self._consumed = len(body)
            return body

        def _serve(self):
            self._consumed = 0
            if self.path.split("?", 1)[0] != ROUTE:
                status, answer = 404, {"error": "not_found"}
            else:
                try:
                    status, answer = core.respond(
                        method=self.command,
                        header=self.headers.get,
                        read_body=self._read_body,
                        stored_hash=stored_hash,
                        open_cursor=lambda: PooledCursor(pool),
                        catalogue=catalogue,
                        db=db,
                    )
                except Exception as error:
                    sys.stderr.write(
                        "serve.py: internal error %s\n%s"
                        % (type(error).__name__, "".join(traceback.format_tb(error.__traceback__)))
                    )
                    status, answer = core.INTERNAL
            body = core.encode(answer)
            # A body left unread would be parsed as the next request on this connection.
            declared = self._declared_length()
            if declared is None or declared > self._consumed or "chunked" in (
                self.headers.get("Transfer-Encoding") or ""
            ):
                self.close_connection = True
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            if status == 405:
                self.send_header("Allow", "POST")
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format, *args):  # noqa: A002 (BaseHTTPRequestHandler's signature)
            pass  # no access log: the query string names the database, nothing else is useful here

    return Handler


def load_catalogue(path):
    cache = []

    def catalogue():
        if not cache:
            cache.append(core.load_catalogue(path))
        return cache[0]

    return catalogue


def main(argv=None):
    parser = argparse.ArgumentParser(description="The bridge endpoint without Odoo, for tests.")
    parser.add_argument("--dsn", required=True, help="libpq connection string or URL")
    parser.add_argument(
        "--token-sha256",
        default=None,
        help="hex SHA-256 of the token (two separated by a comma while rotating); "
        "default: read %s from the database per request" % core.TOKEN_PARAMETER,
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--catalogue", default=core.CATALOGUE_FILE, help=argparse.SUPPRESS)
    parser.add_argument("--watch-stdin", action="store_true", help="also exit when stdin closes")
    args = parser.parse_args(argv)

    pool = Pool(args.dsn)
    first = pool.take()  # fails now, not on the first request, when the DSN is wrong
    with first.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        db = cursor.fetchone()[0]
    first.rollback()
    pool.give(first)

    handler = make_handler(
        pool, stored_hash_reader(pool, args.token_sha256), load_catalogue(args.catalogue), db
    )
    server = ThreadingHTTPServer((args.host, args.port), handler)
    server.daemon_threads = True
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if args.watch_stdin:

        def watch():
            while sys.stdin.buffer.read(4096):
                pass
            stop.set()

        threading.Thread(target=watch, daemon=True).start()
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    sys.stdout.write("listening on %d\n" % server.server_address[1])
    sys.stdout.flush()
    while not stop.wait(1.0):
        pass
    server.shutdown()
    server.server_close()
    pool.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
