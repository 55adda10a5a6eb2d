# Copyright 2026 queue-job-runner contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""serve.py answers what the controller answers: the same inputs through both, compared."""

import http.client
import json
import logging
import os
import tempfile
import unittest

import bridge_support as support
import test_controller as controller_tests
import test_serve as serve_tests
from bridge_support import core, requires_database


def case(method="POST", token=support.TOKEN, content_type="application/json", raw=None,
         statements=None, catalogue=None, length=None):
    return {"method": method, "token": token, "content_type": content_type, "raw": raw,
            "statements": statements, "catalogue": catalogue, "length": length}


@requires_database
class ParityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.catalogue = support.fixture_catalogue()
        cls.folder = tempfile.TemporaryDirectory()
        path = os.path.join(cls.folder.name, "catalogue.json")
        with open(path, "w") as handle:
            json.dump({"version": "test", "sha256": cls.catalogue.sha256,
                       "statements": support.FIXTURE_TEXTS}, handle)
        admin = support.connect()
        with admin.cursor() as cursor:
            cursor.execute(support.RAISE_FUNCTION)
            cursor.execute("SELECT current_database()")
            cls.db = cursor.fetchone()[0]
        admin.commit()
        admin.close()
        cls.process, cls.port = serve_tests.start(["--token-sha256", support.TOKEN_SHA256], path)
        cls.saved = {name: controller_tests.sys.modules.get(name)
                     for name in ("odoo", "odoo.http", "werkzeug", "werkzeug.exceptions")}
        cls.main = controller_tests.import_controller()
        cls.main._catalogue_cache[:] = [cls.catalogue]

    @classmethod
    def tearDownClass(cls):
        serve_tests.stop(cls.process)
        cls.folder.cleanup()
        for name, module in cls.saved.items():
            if module is None:
                controller_tests.sys.modules.pop(name, None)
            else:
                controller_tests.sys.modules[name] = module

    def inputs(self, given):
        raw = given["raw"]
        if raw is None:
            raw = support.json_bytes({"catalogue": given["catalogue"] or self.catalogue.sha256,
                                      "statements": given["statements"] or []})
        headers = {"Content-Length": given["length"] or str(len(raw))}
        if given["token"] is not None:
            headers["Authorization"] = "Bearer " + given["token"]
        if given["content_type"] is not None:
            headers["Content-Type"] = given["content_type"]
        return given["method"], headers, raw if given["length"] is None else b""

    def through_serve(self, method, headers, raw):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.putrequest(method, "/queue_job_runner_bridge/run")
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.endheaders(raw)
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def through_controller(self, method, headers, raw):
        httprequest = controller_tests.FakeHTTPRequest(method, headers, raw)
        env = controller_tests.FakeEnv(support.TOKEN_SHA256, [], [])
        controller_tests.RequestProxy.current = controller_tests.FakeRequest(httprequest, env, self.db)
        response = self.main.QueueJobRunnerBridge().run()
        return response.status, json.loads(response.body.decode("utf-8"))

    def test_the_same_inputs_get_the_same_answers(self):
        cases = {
            "get": case(method="GET"),
            "put": case(method="PUT"),
            "no token": case(token=None),
            "wrong token": case(token="w" * 40),
            "short token": case(token="s" * 8),
            "text/plain": case(content_type="text/plain"),
            "no content type": case(content_type=None),
            "declared too large": case(length=str(core.MAX_BODY_BYTES + 1)),
            "too large": case(raw=b"{}" + b" " * core.MAX_BODY_BYTES),
            "bad json": case(raw=b"{nope"),
            "bad shape": case(raw=b'{"catalogue": "x", "statements": {}}'),
            "other catalogue": case(catalogue="0" * 64),
            "unknown name": case(statements=[{"name": "t_pending"}, {"name": "nope"}]),
            "wrong arity": case(statements=[{"name": "t_divide", "values": []}]),
            "handshake": case(statements=[]),
            "values": case(statements=[{"name": "t_values", "values": [7, "x", [1], True, None]},
                                       {"name": "t_percent_plain"}, {"name": "t_types"}]),
            "database error": case(statements=[{"name": "t_divide", "values": [0]}]),
            "busy": case(statements=[{"name": "t_raise", "values": ["40001"]}]),
        }
        statuses = set()
        with self.assertLogs(controller_tests.LOGGER, logging.INFO) as logs:
            for label, given in cases.items():
                with self.subTest(label):
                    inputs = self.inputs(given)
                    served = self.through_serve(*inputs)
                    self.assertEqual(self.through_controller(*inputs), served)
                    statuses.add(served[0])
        self.assertNotIn(support.TOKEN, "\n".join(logs.output))
        self.assertEqual(statuses, {200, 400, 401, 405, 409, 413, 415, 500, 503})


if __name__ == "__main__":
    unittest.main()
