# Copyright 2026 queue-job-runner contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""db_routing.py without Odoo: which database the patched Request._get_session_and_dbname selects.

Found on a real two-database Odoo 17 (no dbfilter): without the patch every request to the route
answered Odoo's HTML 404, because Odoo 16-18 select a database only from the session or a dbfilter
that leaves one, and queue_job's own patch (queue_job/post_load.py) covers /queue_job/runjob only.
"""

import types
import unittest

import test_controller


class FakeArgs(dict):
    pass


class FakeHTTPRequest(object):
    def __init__(self, path, args=None, headers=None):
        self.path = path
        self.args = FakeArgs(args or {})
        self.headers = test_controller.FakeHeaders(headers or {})
        self.environ = {"HTTP_HOST": "odoo.example:8069"}


class DbRoutingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.saved = test_controller.saved_modules()
        test_controller.import_controller()  # the package imports its controller: fake Odoo first
        from queue_job_runner_bridge import db_routing

        cls.db_routing = db_routing

    @classmethod
    def tearDownClass(cls):
        test_controller.restore_modules(cls.saved)

    def setUp(self):
        self.hosts = []
        http = types.ModuleType("odoo.http")

        class Request(object):
            selected = None  # what Odoo's own selection found (session or dbfilter)

            def __init__(self, httprequest):
                self.httprequest = httprequest

            def _get_session_and_dbname(self):
                return "session", Request.selected

        def db_list(force=False, host=None):
            self.hosts.append((force, host))
            return ["qjr17", "qjr17b"]  # what Odoo serves once its dbfilter is applied

        http.Request = Request
        http.db_list = db_list
        self.http = http
        self.db_routing.http = http
        self.db_routing.install()

    def select(self, path="/queue_job_runner_bridge/run", args=None, headers=None):
        return self.http.Request(FakeHTTPRequest(path, args, headers))._get_session_and_dbname()

    def test_db_in_the_query_selects_a_database_odoo_serves(self):
        self.assertEqual(self.select(args={"db": "qjr17b"}), ("session", "qjr17b"))
        self.assertEqual(self.hosts, [(True, "odoo.example:8069")])  # with the dbfilter of this host

    def test_the_header_selects_too_and_wins_over_the_query(self):
        self.assertEqual(self.select(headers={"X-Odoo-Database": "qjr17"}), ("session", "qjr17"))
        self.assertEqual(self.select(args={"db": "qjr17b"}, headers={"X-Odoo-Database": "qjr17"}), ("session", "qjr17"))

    def test_a_database_odoo_does_not_serve_stays_unselected(self):
        # Unknown or rejected by the dbfilter: no registry is built for it (that would be a 500).
        self.assertEqual(self.select(args={"db": "qjr_no_such_database"}), ("session", None))
        self.assertEqual(self.select(), ("session", None))

    def test_other_routes_are_left_to_odoo(self):
        self.assertEqual(self.select(path="/web/login", args={"db": "qjr17b"}), ("session", None))
        self.assertEqual(self.select(path="/queue_job_runner_bridge/run/x", args={"db": "qjr17b"}), ("session", None))
        self.assertEqual(self.hosts, [])

    def test_odoo_s_own_selection_is_kept(self):
        self.http.Request.selected = "qjr17"
        self.assertEqual(self.select(args={"db": "qjr17b"}), ("session", "qjr17"))
        self.assertEqual(self.hosts, [])

    def test_installing_twice_wraps_once(self):
        patched = self.http.Request._get_session_and_dbname
        self.db_routing.install()
        self.assertIs(self.http.Request._get_session_and_dbname, patched)


if __name__ == "__main__":
    unittest.main()
