# Copyright 2026 queue-job-runner contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Shared by the test modules: the core, the database, a hand-written catalogue.

The database is the one named by QJR_BRIDGE_TEST_DSN (a libpq URL or key=value string). When it
holds no queue_job table yet, the repository's test/support/odoo17-schema.sql is loaded into it, so
an empty database works too. Without the variable or without psycopg2, the database tests skip.
"""

import hashlib
import json
import os
import sys
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ADDON = os.path.dirname(HERE)
REPOSITORY = os.path.dirname(os.path.dirname(ADDON))
SCHEMA = os.path.join(REPOSITORY, "test", "support", "odoo17-schema.sql")

if ADDON not in sys.path:
    sys.path.insert(0, ADDON)
import core  # noqa: E402

try:
    import psycopg2
    import psycopg2.extensions
except ImportError:  # the pure tests still run
    psycopg2 = None

DSN = os.environ.get("QJR_BRIDGE_TEST_DSN")
TOKEN = "t" * 20 + "0123456789abcdefghij"  # 40 characters
TOKEN_SHA256 = hashlib.sha256(TOKEN.encode()).hexdigest()

if psycopg2 is None:
    SKIP_DATABASE = "psycopg2 is not installed (Debian: apt-get install python3-psycopg2)"
elif not DSN:
    SKIP_DATABASE = "QJR_BRIDGE_TEST_DSN is not set (a PostgreSQL URL; npm test sets it)"
else:
    SKIP_DATABASE = None

requires_database = unittest.skipIf(SKIP_DATABASE is not None, SKIP_DATABASE or "")

_schema_checked = []


def connect(isolation=None):
    """A new connection (not autocommit); Odoo's cursors are REPEATABLE READ, pass it to mimic them."""
    connection = psycopg2.connect(DSN, application_name="qjr-bridge-test")
    if isolation is not None:
        connection.set_isolation_level(isolation)
    if not _schema_checked:
        _ensure_schema(connection)
        _schema_checked.append(True)
    return connection


def _ensure_schema(connection):
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('public.queue_job') IS NOT NULL")
        present = cursor.fetchone()[0]
        if not present:
            with open(SCHEMA, encoding="utf-8") as handle:
                cursor.execute(handle.read())  # no parameters: psycopg2 sends the whole script
    connection.commit()


def make_catalogue(texts, version="test"):
    return core.parse_catalogue(
        {"version": version, "sha256": core.catalogue_hash(texts), "statements": texts}
    )


# A catalogue written for these tests; the real one (generated from shared/sql.ts) has its own tests.
FIXTURE_TEXTS = {
    "t_values": "SELECT $1::int AS one, $1::int * 2 AS doubled, $2::text AS text, $3::int[] AS ids, "
    "cardinality($3::int[]) AS n, $4::boolean AS flag, $5::text IS NULL AS missing",
    "t_ten": "SELECT $10::text || '-' || $1::text AS joined, "
    "$2::int + $3::int + $4::int + $5::int + $6::int + $7::int + $8::int + $9::int AS total",
    "t_percent": "SELECT 'a%b' AS literal, $1::text LIKE 'root.%' AS matches, "
    "replace($1::text, '%', 'pct') AS replaced",
    "t_percent_plain": "SELECT '100%' AS literal, 'x' LIKE '%' AS matches",
    "t_types": "SELECT 1.5::numeric AS dec, timestamp '2026-01-02 03:04:05.5' AS ts, "
    "date '2026-01-02' AS day, '{\"a\": [1, 2]}'::jsonb AS doc, '[3]'::json AS list, "
    "NULL::int AS nothing, 9007199254740993::bigint AS big, 0.25::float8 AS f",
    "t_insert_job": "INSERT INTO queue_job (uuid, state, channel, date_created) "
    "VALUES ($1, 'pending', $2, now() AT TIME ZONE 'utc') RETURNING id, uuid",
    "t_set_state": "UPDATE queue_job SET state = $2 WHERE uuid = $1",
    "t_job_state": "SELECT state FROM queue_job WHERE uuid = $1",
    "t_divide": "SELECT 1 / $1::int AS quotient",
    "t_raise": "SELECT qjr_test_raise($1)",
    "t_baton": "SELECT id FROM queue_job_channel WHERE complete_name = 'root' FOR NO KEY UPDATE",
    "t_settings": "SELECT current_setting('transaction_isolation') AS isolation, "
    "current_setting('lock_timeout') AS lock_timeout, "
    "current_setting('statement_timeout') AS statement_timeout, "
    "current_setting('idle_in_transaction_session_timeout') AS idle_timeout",
    "t_pending": "SELECT count(*)::int AS n FROM queue_job WHERE state = 'pending'",
}

RAISE_FUNCTION = (
    "CREATE OR REPLACE FUNCTION qjr_test_raise(code text) RETURNS void LANGUAGE plpgsql AS "
    "'BEGIN RAISE EXCEPTION ''raised on purpose'' USING ERRCODE = code; END'"
)


def fixture_catalogue():
    return make_catalogue(FIXTURE_TEXTS)


def new_uuid():
    return str(uuid.uuid4())


def json_bytes(data):
    return json.dumps(data).encode("utf-8")


def headers(values):
    """A case-insensitive header getter like werkzeug's and http.server's."""
    lowered = {key.lower(): value for key, value in values.items()}
    return lambda name: lowered.get(name.lower())
