# Copyright 2026 queue-job-runner contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""controllers/main.py without Odoo: a minimal stand-in for the few Odoo names it uses (route,
Controller, Response, request, SUPERUSER_ID), and a real PostgreSQL behind an Odoo-like cursor.

What this proves: the module imports, its route is declared as the protocol needs, and it hands
Odoo's request to core.respond() faithfully (headers, body, stored hash, a fresh cursor, the db),
answering JSON with the status, without logging the token or the body. What it cannot prove is
Odoo's own dispatching; see README.rst, "Known issues".
"""

import importlib
import logging
import sys
import types
import unittest

import bridge_support as support
from bridge_support import core, requires_database

LOGGER = "queue_job_runner_bridge.controllers.main"


class FakeResponse(object):
    def __init__(self, body, status=200, headers=None):
        self.body = body
        self.status = status
        self.headers = dict(headers or [])


def route(path, **routing):
    def decorate(endpoint):
        endpoint.routing = dict(routing, routes=[path])
        return endpoint

    return decorate


class RequestProxy(object):
    """odoo.http.request: the controller binds it at import, tests swap what it points to."""

    current = None

    def __getattr__(self, name):
        return getattr(RequestProxy.current, name)


FAKE_MODULES = ("odoo", "odoo.http", "werkzeug", "werkzeug.exceptions")


def saved_modules():
    """The real entries install_fake_odoo() replaces, for restore_modules() after a test class."""
    return {name: sys.modules.get(name) for name in FAKE_MODULES}


def restore_modules(saved):
    for name, module in saved.items():
        if module is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = module


def install_fake_odoo():
    odoo = types.ModuleType("odoo")
    odoo.SUPERUSER_ID = 1
    http = types.ModuleType("odoo.http")
    http.Controller = type("Controller", (object,), {})
    http.route = route
    http.Response = FakeResponse
    http.request = RequestProxy()
    odoo.http = http
    sys.modules["odoo"] = odoo
    sys.modules["odoo.http"] = http
    try:
        import werkzeug.exceptions  # noqa: F401
    except ImportError:
        werkzeug = types.ModuleType("werkzeug")
        exceptions = types.ModuleType("werkzeug.exceptions")
        exceptions.RequestEntityTooLarge = type("RequestEntityTooLarge", (Exception,), {})
        werkzeug.exceptions = exceptions
        sys.modules["werkzeug"] = werkzeug
        sys.modules["werkzeug.exceptions"] = exceptions


def import_controller():
    install_fake_odoo()
    parent = support.os.path.dirname(support.ADDON)
    if parent not in sys.path:
        sys.path.insert(0, parent)
    return importlib.import_module("queue_job_runner_bridge.controllers.main")


class OdooLikeCursor(object):
    """The subset of odoo.sql_db.Cursor the controller's adapter uses, on a REPEATABLE READ
    connection like Odoo's. Records whether the "bad query" log was switched off."""

    def __init__(self, log):
        self._connection = support.connect(support.psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ)
        self._cursor = self._connection.cursor()
        self.dbname = self._connection.info.dbname
        self._log = log

    def execute(self, query, params=None, log_exceptions=True):
        self._log.append(log_exceptions)
        return self._cursor.execute(query, params or None)  # Odoo drops empty parameters too

    def __getattr__(self, name):
        return getattr(self._cursor, name)

    def commit(self):
        self._connection.commit()

    def rollback(self):
        self._connection.rollback()

    def close(self):
        self._cursor.close()
        self._connection.close()


class FakeHeaders(dict):
    def get(self, name, default=None):
        for key, value in self.items():
            if key.lower() == name.lower():
                return value
        return default


class FakeHTTPRequest(object):
    """Odoo 17+'s wrapped httprequest: get_data() but no stream."""

    def __init__(self, method, headers, body):
        self.method = method
        self.headers = FakeHeaders(headers)
        self.remote_addr = "192.0.2.7"
        self._body = body
        self.reads = 0

    def get_data(self, cache=True, as_text=False, parse_form_data=False):
        self.reads += 1
        return self._body


class FakeEnv(object):
    def __init__(self, stored, log, cursors):
        self._stored = stored
        self.registry = self
        self._log = log
        self._cursors = cursors

    def __call__(self, user=None):
        assert user == 1
        return self

    def __getitem__(self, model):
        assert model == "ir.config_parameter"
        return self

    def sudo(self):
        return self

    def get_param(self, key, default=False):
        assert key == core.TOKEN_PARAMETER
        return self._stored if self._stored is not None else default

    def cursor(self):
        cursor = OdooLikeCursor(self._log)
        self._cursors.append(cursor)
        return cursor


class FakeRequest(object):
    def __init__(self, httprequest, env, db):
        self.httprequest = httprequest
        self.env = env
        self.db = db


class ControllerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.saved = saved_modules()
        cls.main = import_controller()
        cls.catalogue = support.fixture_catalogue()
        cls.main._catalogue_cache[:] = [cls.catalogue]

    @classmethod
    def tearDownClass(cls):
        restore_modules(cls.saved)

    def call(self, method="POST", statements=(), token=support.TOKEN, stored=support.TOKEN_SHA256,
             raw=None, content_type="application/json", db="prod"):
        if raw is None:
            raw = support.json_bytes({"catalogue": self.catalogue.sha256, "statements": list(statements)})
        headers = {"Content-Length": str(len(raw))}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        if content_type is not None:
            headers["Content-Type"] = content_type
        self.log, self.cursors = [], []
        self.httprequest = FakeHTTPRequest(method, headers, raw)
        RequestProxy.current = FakeRequest(self.httprequest, FakeEnv(stored, self.log, self.cursors), db)
        response = self.main.QueueJobRunnerBridge().run(db=db)
        self.assertEqual(response.headers["Content-Type"], "application/json; charset=utf-8")
        return response, support.json.loads(response.body.decode("utf-8"))

    def test_the_route_is_declared_as_the_protocol_needs(self):
        routing = self.main.QueueJobRunnerBridge.run.routing
        self.assertEqual(routing, {"routes": ["/queue_job_runner_bridge/run"], "type": "http", "auth": "none",
                                   "csrf": False, "save_session": False, "readonly": False})
        self.assertNotIn("methods", routing)  # every method reaches it, to answer 405 itself

    def test_the_module_never_imports_odoo_from_core(self):
        with open(core.__file__) as handle:
            source = handle.read()
        self.assertNotRegex(source, r"(?m)^\s*(from|import)\s+(odoo|\.)")

    def test_refusals_open_no_cursor(self):
        response, answer = self.call(method="GET")
        self.assertEqual((response.status, answer), (405, {"error": "method_not_allowed"}))
        self.assertEqual(response.headers["Allow"], "POST")
        with self.assertLogs(LOGGER, logging.WARNING) as logs:
            response, answer = self.call(token="w" * 40)
        self.assertEqual((response.status, answer), (401, {"error": "unauthorized"}))
        self.assertIn("wrong or missing token", logs.output[0])
        with self.assertLogs(LOGGER, logging.WARNING) as logs:
            response, _answer = self.call(stored=None)
        self.assertEqual(response.status, 401)
        self.assertIn("queue_job_runner_bridge.token_sha256 is not set", logs.output[0])
        response, _answer = self.call(content_type="text/plain")
        self.assertEqual(response.status, 415)
        self.assertEqual(self.httprequest.reads, 0)
        self.assertEqual(self.cursors, [])

    def test_without_a_selected_database_it_says_so_and_reads_nothing(self):
        # Server-wide (--load), the route is also served when Odoo selected no database: there is no
        # stored hash to check a token against, so the answer says only that (JSON, not Odoo's 404 page).
        response, answer = self.call(db=None, stored=None)
        self.assertEqual((response.status, answer), (404, {"error": "database_not_selected"}))
        self.assertEqual(self.httprequest.reads, 0)
        self.assertEqual(self.cursors, [])

    @requires_database
    def test_statements_run_on_a_fresh_quiet_cursor_of_the_selected_database(self):
        response, answer = self.call(statements=[{"name": "t_settings"}, {"name": "t_percent_plain"}])
        self.assertEqual(response.status, 200, answer)
        self.assertEqual(answer["db"], "prod")
        self.assertEqual(answer["results"][0]["rows"][0]["isolation"], "read committed")
        self.assertEqual(answer["results"][1]["rows"], [{"literal": "100%", "matches": True}])
        self.assertEqual(len(self.cursors), 1)
        self.assertTrue(self.cursors[0]._connection.closed)
        self.assertEqual(set(self.log), {False})  # Odoo's "bad query" log (with values) is off

    @requires_database
    def test_database_errors_are_answered_not_raised_and_log_no_values(self):
        secret = "v4lue-from-the-body"
        with self.assertLogs(LOGGER, logging.INFO) as logs:
            response, answer = self.call(statements=[{"name": "t_divide", "values": [secret]}])
        self.assertEqual(response.status, 500)
        self.assertEqual(answer["code"], "22P02")
        self.assertNotIn(secret, "\n".join(logs.output))
        self.assertNotIn(support.TOKEN, "\n".join(logs.output))

    def test_an_internal_error_is_a_bare_500_logged_without_its_message(self):
        def broken(*args, **kwargs):
            raise RuntimeError("message quoting " + support.TOKEN)

        original = self.main.core.respond
        self.main.core.respond = broken
        try:
            with self.assertLogs(LOGGER, logging.ERROR) as logs:
                response, answer = self.call()
        finally:
            self.main.core.respond = original
        self.assertEqual((response.status, answer), (500, {"error": "internal"}))
        self.assertIn("RuntimeError", logs.output[0])
        self.assertNotIn(support.TOKEN, "\n".join(logs.output))

    def test_a_body_is_read_from_the_stream_when_werkzeug_exposes_it(self):
        class Stream(object):
            def __init__(self, data):
                self.data = data
                self.asked = None

            def read(self, size):
                self.asked = size
                return self.data[:size]

        class WithStream(object):
            stream = Stream(b"0123456789")

        self.assertEqual(self.main._read_body(WithStream(), 4), b"01234")
        self.assertEqual(WithStream.stream.asked, 5)


if __name__ == "__main__":
    unittest.main()
