# Copyright 2026 queue-job-runner contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""serve.py, the addon's stand-in for the TypeScript suite: its HTTP answers and its life cycle."""

import hashlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import unittest

import bridge_support as support
from bridge_support import core, requires_database

SERVE = os.path.join(support.HERE, "serve.py")


def start(extra_args, catalogue_path):
    process = subprocess.Popen(
        [sys.executable, SERVE, "--dsn", support.DSN, "--port", "0", "--host", "127.0.0.1",
         "--catalogue", catalogue_path] + extra_args,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )
    line = process.stdout.readline().decode()
    match = re.match(r"^listening on (\d+)\n$", line)
    if not match:
        process.kill()
        raise AssertionError("serve.py printed %r; stderr: %s" % (line, process.stderr.read().decode()))
    return process, int(match.group(1))


def stop(process):
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.stderr.close()


@requires_database
class ServeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.catalogue = support.fixture_catalogue()
        cls.folder = tempfile.TemporaryDirectory()
        cls.catalogue_path = os.path.join(cls.folder.name, "catalogue.json")
        with open(cls.catalogue_path, "w") as handle:
            json.dump({"version": "test", "sha256": cls.catalogue.sha256,
                       "statements": support.FIXTURE_TEXTS}, handle)
        admin = support.connect()
        with admin.cursor() as cursor:
            cursor.execute(support.RAISE_FUNCTION)
            cursor.execute("SELECT current_database()")
            cls.db = cursor.fetchone()[0]
        admin.commit()
        admin.close()
        cls.process, cls.port = start(["--token-sha256", support.TOKEN_SHA256], cls.catalogue_path)

    @classmethod
    def tearDownClass(cls):
        if cls.process.poll() is None:
            stop(cls.process)
        cls.folder.cleanup()

    def post(self, payload, token=support.TOKEN, content_type="application/json", method="POST",
             path="/queue_job_runner_bridge/run?db=x", connection=None, headers=None):
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.addCleanup(connection.close)
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        sent = {"Content-Length": str(len(raw))}
        if token is not None:
            sent["Authorization"] = "Bearer " + token
        if content_type is not None:
            sent["Content-Type"] = content_type
        sent.update(headers or {})
        connection.request(method, path, body=raw if method != "GET" else None, headers=sent)
        response = connection.getresponse()
        data = response.read()
        if method == "HEAD":
            return response, None
        self.assertEqual(response.getheader("Content-Type"), "application/json; charset=utf-8")
        return response, json.loads(data)

    def request(self, statements, **kwargs):
        return self.post({"catalogue": self.catalogue.sha256, "statements": statements}, **kwargs)

    def test_a_handshake_and_a_statement(self):
        response, answer = self.request([])
        self.assertEqual(response.status, 200)
        self.assertEqual(answer, {"version": core.VERSION, "catalogue": self.catalogue.sha256,
                                  "db": self.db, "results": []})
        response, answer = self.request([{"name": "t_ten", "values": ["a", 1, 1, 1, 1, 1, 1, 1, 1, "j"]}])
        self.assertEqual(response.status, 200)
        self.assertEqual(answer["results"], [{"rows": [{"joined": "j-a", "total": 8}], "rowCount": 1}])

    def test_requests_share_a_kept_alive_connection(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self.addCleanup(connection.close)
        for _ in range(3):
            response, _answer = self.request([{"name": "t_pending"}], connection=connection)
            self.assertEqual(response.status, 200)
        response, _answer = self.request([], connection=connection, token="w" * 40)
        self.assertEqual(response.status, 401)

    def test_the_refusals(self):
        response, answer = self.request([], token=None)
        self.assertEqual((response.status, answer), (401, {"error": "unauthorized"}))
        response, answer = self.request([], token="w" * 40)
        self.assertEqual((response.status, answer), (401, {"error": "unauthorized"}))
        response, answer = self.request([], method="GET")
        self.assertEqual((response.status, answer), (405, {"error": "method_not_allowed"}))
        self.assertEqual(response.getheader("Allow"), "POST")
        response, _answer = self.request([], method="HEAD")
        self.assertEqual(response.status, 405)
        response, answer = self.request([], content_type="text/plain")
        self.assertEqual((response.status, answer), (415, {"error": "unsupported_media_type"}))
        response, answer = self.post(b"{nope")
        self.assertEqual((response.status, answer["error"]), (400, "bad_request"))
        response, answer = self.request([{"name": "nope"}])
        self.assertEqual((response.status, answer), (400, {"error": "unknown_statement", "name": "nope"}))
        response, answer = self.post({"catalogue": "0" * 64, "statements": []})
        self.assertEqual(response.status, 409)
        self.assertEqual(answer["catalogue"], self.catalogue.sha256)
        response, answer = self.request([], path="/queue_job/runjob")
        self.assertEqual((response.status, answer), (404, {"error": "not_found"}))

    def test_a_body_over_the_limit_is_413(self):
        big = b'{"catalogue": "", "statements": []}' + b" " * core.MAX_BODY_BYTES
        response, answer = self.post(big)
        self.assertEqual((response.status, answer), (413, {"error": "body_too_large"}))
        self.assertEqual(response.getheader("Connection"), "close")  # the rest is never read
        # Declared only: answered before a byte of the body arrives.
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self.addCleanup(connection.close)
        connection.putrequest("POST", "/queue_job_runner_bridge/run")
        connection.putheader("Authorization", "Bearer " + support.TOKEN)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(10 ** 9))
        connection.endheaders()
        response = connection.getresponse()
        self.assertEqual((response.status, json.loads(response.read())), (413, {"error": "body_too_large"}))

    def test_database_answers(self):
        response, answer = self.request([{"name": "t_raise", "values": ["40P01"]}])
        self.assertEqual((response.status, answer["error"], answer["code"]), (503, "busy", "40P01"))
        response, answer = self.request([{"name": "t_divide", "values": [0]}])
        self.assertEqual(response.status, 500)
        self.assertEqual((answer["error"], answer["code"], answer["message"]),
                         ("database", "22012", "division by zero"))

    def test_sigterm_ends_it_cleanly(self):
        process, port = start(["--token-sha256", support.TOKEN_SHA256], self.catalogue_path)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/")
        connection.getresponse().read()
        connection.close()
        self.assertEqual(stop(process), 0)


@requires_database
class ServeStoredHashTest(unittest.TestCase):
    """Without --token-sha256 the digest is read from ir_config_parameter, as the controller does."""

    def setUp(self):
        self.catalogue = support.fixture_catalogue()
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        path = os.path.join(folder.name, "catalogue.json")
        with open(path, "w") as handle:
            json.dump({"version": "test", "sha256": self.catalogue.sha256,
                       "statements": support.FIXTURE_TEXTS}, handle)
        self.admin = support.connect()
        self.addCleanup(self.admin.close)
        self.set_parameter(None)
        self.addCleanup(self.set_parameter, None)
        self.process, self.port = start([], path)
        self.addCleanup(stop, self.process)

    def set_parameter(self, value):
        with self.admin.cursor() as cursor:
            cursor.execute("DELETE FROM ir_config_parameter WHERE key = %s", (core.TOKEN_PARAMETER,))
            if value is not None:
                cursor.execute("INSERT INTO ir_config_parameter (key, value) VALUES (%s, %s)",
                               (core.TOKEN_PARAMETER, value))
        self.admin.commit()

    def status(self, token):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self.addCleanup(connection.close)
        raw = json.dumps({"catalogue": self.catalogue.sha256, "statements": []}).encode()
        connection.request("POST", "/queue_job_runner_bridge/run", body=raw, headers={
            "Authorization": "Bearer " + token, "Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status

    def test_no_parameter_then_one_hash_then_a_rotation(self):
        old, new = "o" * 40, "n" * 40
        self.assertEqual(self.status(old), 401)
        self.set_parameter(hashlib.sha256(old.encode()).hexdigest())
        self.assertEqual(self.status(old), 200)
        self.assertEqual(self.status(new), 401)
        # Rotation: both hashes while the runner's secret is updated, then the new one alone.
        self.set_parameter("%s,%s" % (hashlib.sha256(new.encode()).hexdigest(),
                                      hashlib.sha256(old.encode()).hexdigest()))
        self.assertEqual((self.status(old), self.status(new)), (200, 200))
        self.set_parameter(hashlib.sha256(new.encode()).hexdigest().upper())
        self.assertEqual((self.status(old), self.status(new)), (401, 200))


if __name__ == "__main__":
    unittest.main()
