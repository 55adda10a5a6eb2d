# Copyright 2026 queue-job-runner contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The bridge's behaviour, without Odoo: standard library plus a DB-API cursor.

The Odoo controller (controllers/main.py) and the test wrapper (tests/serve.py) are thin shells
around :func:`respond`, so both answer the same inputs the same way. Nothing here imports Odoo or a
database driver: database errors are recognised by their SQLSTATE attribute (``pgcode``).

Protocol (v1): the runner posts named statements of the committed catalogue (generated from the
runner's shared/sql.ts); this module checks the token, the body and the catalogue hash, then runs
the statements in one short READ COMMITTED transaction and answers JSON. Python 3.7 compatible
(Odoo 16.0 supports it).
"""

import datetime
import decimal
import hashlib
import hmac
import json
import os
import re
import uuid

VERSION = "0.2.0"  # the addon's own version (__manifest__.py, without Odoo's series prefix)
TOKEN_PARAMETER = "queue_job_runner_bridge.token_sha256"
MAX_BODY_BYTES = 256 * 1024
MIN_TOKEN_LENGTH = 32
CATALOGUE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "catalogue.json")

# Lock waits and statements cannot hang an HTTP worker; an idle transaction is ended by the server
# even if the worker dies between two statements.
TRANSACTION_SETUP = (
    # Odoo's cursors are REPEATABLE READ: their snapshot would be taken before the baton is granted,
    # so a pass would plan on state older than the claims of the pass it waited for. The catalogue is
    # written for READ COMMITTED (each statement sees what was committed before it started).
    "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
    "SET LOCAL lock_timeout = '2s'",
    "SET LOCAL statement_timeout = '15s'",
    "SET LOCAL idle_in_transaction_session_timeout = '45s'",
)

# Lock timeout, serialization failure, deadlock: the runner retries on its next pass.
BUSY_CODES = frozenset(("55P03", "40001", "40P01"))

_PLACEHOLDER = re.compile(r"\$(\d+)")
_STRAY_DOLLAR = re.compile(r"\$(?!\d)")
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_BEARER = re.compile(r"^\s*bearer\s+(\S+)\s*$", re.IGNORECASE)
_JSON_MEDIA_TYPE = "application/json"


class CatalogueError(ValueError):
    """The catalogue file is missing, malformed, or its hash does not match its statements."""


class BadRequest(ValueError):
    """The body is not a well-formed request; the message names what is wrong, never a value."""


class BodyTooLarge(Exception):
    """The body is longer than MAX_BODY_BYTES."""


class Statement(object):
    """One catalogue statement, converted once for a pyformat DB-API cursor."""

    __slots__ = ("name", "text", "sql", "arity")

    def __init__(self, name, text):
        self.name = name
        self.text = text
        self.arity = placeholder_count(text)
        # Without placeholders the text is sent as is, without parameters: some cursors (Odoo's) drop
        # an empty parameter mapping, and then a doubled %% would reach PostgreSQL.
        self.sql = to_pyformat(text) if self.arity else text


class Catalogue(object):
    __slots__ = ("version", "sha256", "statements")

    def __init__(self, version, sha256, statements):
        self.version = version
        self.sha256 = sha256
        self.statements = statements  # name -> Statement


class Request(object):
    __slots__ = ("catalogue", "calls", "rollback")

    def __init__(self, catalogue, calls, rollback):
        self.catalogue = catalogue  # the hash the runner expects
        self.calls = calls  # [(name, [values])]
        self.rollback = rollback


# ---- Catalogue ------------------------------------------------------------------------------------


def catalogue_hash(texts):
    """Hex SHA-256 over, for each statement in ascending name order, name NUL text NUL (UTF-8)."""
    digest = hashlib.sha256()
    for name in sorted(texts):  # Python sorts str by code point, as the protocol says
        digest.update(name.encode("utf-8") + b"\0" + texts[name].encode("utf-8") + b"\0")
    return digest.hexdigest()


def to_pyformat(text):
    """PostgreSQL's $N placeholders as pyformat: every % doubled first, then $N -> %(pN)s."""
    return _PLACEHOLDER.sub(lambda m: "%(p" + str(int(m.group(1))) + ")s", text.replace("%", "%%"))


def placeholder_count(text):
    """The highest $N in the text (0 without placeholders): how many values a call must carry."""
    numbers = [int(n) for n in _PLACEHOLDER.findall(text)]
    return max(numbers) if numbers else 0


def parse_catalogue(data):
    """A Catalogue from the decoded JSON file; CatalogueError when it is malformed or tampered with."""
    if not isinstance(data, dict):
        raise CatalogueError("the catalogue is not a JSON object")
    version, sha256, texts = data.get("version"), data.get("sha256"), data.get("statements")
    if not isinstance(version, str) or not version:
        raise CatalogueError("the catalogue has no version")
    if not isinstance(sha256, str) or not _HEX_DIGEST.match(sha256):
        raise CatalogueError("the catalogue's sha256 is not a lowercase hex SHA-256")
    if not isinstance(texts, dict) or not all(
        isinstance(name, str) and name and isinstance(text, str) and text.strip()
        for name, text in texts.items()
    ):
        raise CatalogueError("the catalogue's statements are not a map of names to SQL texts")
    for name, text in texts.items():
        # A dollar-quoted body or a $ inside a literal would be mangled by the $N conversion.
        if _STRAY_DOLLAR.search(text):
            raise CatalogueError("statement %s has a $ that is not a $N placeholder" % name)
        if any(int(number) == 0 for number in _PLACEHOLDER.findall(text)):
            raise CatalogueError("statement %s uses $0" % name)
    actual = catalogue_hash(texts)
    if actual != sha256:
        raise CatalogueError(
            "the catalogue's sha256 does not match its statements (edited by hand?): "
            "regenerate it with `npm run catalogue`"
        )
    return Catalogue(version, sha256, {name: Statement(name, text) for name, text in texts.items()})


def load_catalogue(path=CATALOGUE_FILE):
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError) as error:
        raise CatalogueError("cannot read %s: %s" % (os.path.basename(path), error))
    return parse_catalogue(data)


# ---- Token ----------------------------------------------------------------------------------------


def check_token(authorization_header, stored_hex):
    """Whether `Authorization: Bearer <token>` matches a stored SHA-256 hex digest.

    ``stored_hex`` holds one digest, or two separated by a comma while a token is being rotated;
    case and surrounding whitespace do not matter. A missing header, a token shorter than
    MIN_TOKEN_LENGTH, or no valid digest stored all answer False. Every digest is compared, in
    constant time (hmac.compare_digest), whichever matches.
    """
    if not isinstance(authorization_header, str) or not isinstance(stored_hex, str):
        return False
    match = _BEARER.match(authorization_header)
    if not match or len(match.group(1)) < MIN_TOKEN_LENGTH:
        return False
    presented = hashlib.sha256(match.group(1).encode("utf-8")).hexdigest()
    candidates = [part.strip().lower() for part in stored_hex.split(",")]
    matched = False
    for candidate in candidates:
        if _HEX_DIGEST.match(candidate):
            matched = hmac.compare_digest(presented, candidate) or matched
    return matched


# ---- Request body ---------------------------------------------------------------------------------


def _reject_constant(name):
    raise BadRequest("the body holds %s, which is not JSON" % name)


def _is_scalar(value):
    return value is None or isinstance(value, (str, bool, int, float))


def parse_body(body, catalogue, limit=MAX_BODY_BYTES):
    """A Request from the raw body; BadRequest (shape) or BodyTooLarge. Names are checked later."""
    if len(body) > limit:
        raise BodyTooLarge()
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8")
    except RecursionError:
        raise BadRequest("the body is nested too deeply")
    except ValueError as error:
        if isinstance(error, BadRequest):
            raise
        raise BadRequest("the body is not valid JSON")
    if not isinstance(data, dict):
        raise BadRequest("the body is not a JSON object")
    expected = data.get("catalogue")
    if not isinstance(expected, str):
        raise BadRequest("catalogue must be the sha256 string the runner expects")
    rollback = data.get("rollback", False)
    if not isinstance(rollback, bool):
        raise BadRequest("rollback must be true or false")
    statements = data.get("statements")
    if not isinstance(statements, list):
        raise BadRequest("statements must be a list")
    calls = []
    for index, call in enumerate(statements):
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise BadRequest("statements[%d] must be an object with a string name" % index)
        values = call.get("values", [])
        if not isinstance(values, list):
            raise BadRequest("statements[%d].values must be a list" % index)
        for position, value in enumerate(values):
            if _is_scalar(value):
                continue
            if isinstance(value, list) and all(_is_scalar(item) for item in value):
                continue
            raise BadRequest(
                "statements[%d].values[%d] must be a JSON scalar or a flat list of scalars"
                % (index, position)
            )
        calls.append((call["name"], values))
    return Request(expected, calls, rollback)


# ---- Execution ------------------------------------------------------------------------------------


def _json_value(value):
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_value(item) for key, item in value.items()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return value


def _result(cursor):
    description = cursor.description
    if description is None:  # no result set (UPDATE without RETURNING, SET)
        return {"rows": [], "rowCount": max(cursor.rowcount, 0)}
    names = [column[0] for column in description]
    rows = [
        {name: _json_value(value) for name, value in zip(names, row)} for row in cursor.fetchall()
    ]
    return {"rows": rows, "rowCount": len(rows) if cursor.rowcount < 0 else cursor.rowcount}


def _finish(cursor, commit):
    """Commit or roll back through the cursor (Odoo's Cursor) or its connection (plain DB-API)."""
    target = cursor if hasattr(cursor, "commit") else cursor.connection
    if commit:
        target.commit()
    else:
        target.rollback()


def sqlstate(error):
    """The SQLSTATE of a database error (psycopg2 `pgcode`, psycopg 3 `sqlstate`), else None."""
    code = getattr(error, "pgcode", None) or getattr(error, "sqlstate", None)
    return code if isinstance(code, str) else None


def _is_database_error(error):
    # DB-API drivers name their base class Error and put it in the driver's module; a SQLSTATE is
    # the surest sign. Connection failures carry none (psycopg2 OperationalError, InterfaceError).
    if sqlstate(error):
        return True
    module = type(error).__module__ or ""
    return module.split(".")[0] in ("psycopg2", "psycopg")


def _primary_message(error):
    diag = getattr(error, "diag", None)
    message = getattr(diag, "message_primary", None)
    if not message:
        text = str(error).strip()
        message = text.splitlines()[0] if text else type(error).__name__
        if message.startswith("ERROR:"):
            message = message[len("ERROR:"):].strip()
    return message


def database_answer(error, name=None):
    """The protocol's answer to a database error: busy (503) or database (500)."""
    code = sqlstate(error)
    if code in BUSY_CODES:
        answer = {"error": "busy", "code": code}
        status = 503
    else:
        # No SQLSTATE: the connection itself failed (class 08, connection exception).
        answer = {"error": "database", "code": code or "08006", "message": _primary_message(error)}
        status = 500
    if name is not None:
        answer["statement"] = name
    return status, answer


def execute(cursor, request, catalogue, db):
    """Runs the request's statements in one transaction on a cursor in a fresh transaction.

    The cursor must not be in autocommit mode. Every name must be known (see resolve()). Returns
    (status, answer); on any database error the transaction is rolled back and the error mapped to
    the protocol's busy/database answers.
    """
    results = []
    current = None
    try:
        for setup in TRANSACTION_SETUP:
            cursor.execute(setup)
        for name, values in request.calls:
            current = name
            statement = catalogue.statements[name]
            if statement.arity:
                params = {"p%d" % (i + 1): value for i, value in enumerate(values)}
                cursor.execute(statement.sql, params)
            else:
                cursor.execute(statement.sql)
            results.append(_result(cursor))
        current = None
        _finish(cursor, commit=not request.rollback)
    except Exception as error:
        if not _is_database_error(error):
            _rollback_quietly(cursor)
            raise
        _rollback_quietly(cursor)
        return database_answer(error, current)
    return 200, {
        "version": VERSION,
        "catalogue": catalogue.sha256,
        "db": db,
        "results": results,
    }


def _rollback_quietly(cursor):
    try:
        _finish(cursor, commit=False)
    except Exception:  # the connection is gone: nothing is left to roll back
        pass


def resolve(request, catalogue):
    """None when every name is known and carries the right number of values, else the answer."""
    for index, (name, values) in enumerate(request.calls):
        statement = catalogue.statements.get(name)
        if statement is None:
            return 400, {"error": "unknown_statement", "name": name}
        if len(values) != statement.arity:
            return 400, {
                "error": "bad_request",
                "detail": "statements[%d] (%s) takes %d values, got %d"
                % (index, name, statement.arity, len(values)),
            }
    return None


# ---- One HTTP exchange ----------------------------------------------------------------------------

UNAUTHORIZED = (401, {"error": "unauthorized"})
# What the shells answer when something other than the database failed (a bug): no detail.
INTERNAL = (500, {"error": "internal"})


def _media_type(content_type):
    return (content_type or "").split(";")[0].strip().lower()


def respond(method, header, read_body, stored_hash, open_cursor, catalogue, db):
    """One request, transport-free: (status, answer dict). Shared by the controller and serve.py.

    - method: the HTTP method; header(name) -> str or None (case-insensitive);
    - read_body(limit) -> bytes, at most limit + 1 bytes (raises BodyTooLarge if it knows better);
    - stored_hash() -> the configured digest(s) or None: the only thing read before the token check;
    - open_cursor() -> a DB-API cursor on a fresh transaction of the selected database, closed here;
    - catalogue() -> Catalogue (raises CatalogueError); db: the selected database's name.
    """
    if (method or "").upper() != "POST":
        return 405, {"error": "method_not_allowed"}
    if not check_token(header("Authorization"), stored_hash()):
        return UNAUTHORIZED
    if _media_type(header("Content-Type")) != _JSON_MEDIA_TYPE:
        return 415, {"error": "unsupported_media_type"}
    declared = header("Content-Length")
    if declared is not None and declared.strip():
        if not declared.strip().isdigit():
            return 400, {"error": "bad_request", "detail": "Content-Length is not a number"}
        if int(declared) > MAX_BODY_BYTES:
            return 413, {"error": "body_too_large"}
    try:
        body = read_body(MAX_BODY_BYTES)
        loaded = catalogue()
        request = parse_body(body, loaded)
    except BodyTooLarge:
        return 413, {"error": "body_too_large"}
    except BadRequest as error:
        return 400, {"error": "bad_request", "detail": str(error)}
    except CatalogueError as error:
        return 500, {"error": "catalogue_invalid", "detail": str(error)}
    if request.catalogue != loaded.sha256:
        return 409, {"error": "catalogue_mismatch", "version": VERSION, "catalogue": loaded.sha256}
    refused = resolve(request, loaded)
    if refused is not None:
        return refused
    try:
        cursor = open_cursor()
    except Exception as error:
        if not _is_database_error(error):
            raise
        return database_answer(error)
    try:
        return execute(cursor, request, loaded, db)
    finally:
        try:
            cursor.close()
        except Exception:
            pass


def encode(answer):
    """The answer's bytes: compact JSON, UTF-8."""
    return json.dumps(answer, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
