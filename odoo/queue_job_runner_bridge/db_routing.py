# Copyright 2026 queue-job-runner contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Lets `?db=` (or `X-Odoo-Database`) select the database of the bridge's route on a multi-database
Odoo 16.0-18.0, which selects one only from the session or a dbfilter matching exactly one database.
queue_job does the same for /queue_job/runjob only (queue_job/post_load.py). Takes effect only when
the module is server-wide (--load / server_wide_modules): post_load runs at startup then."""

from odoo import http

ROUTE = "/queue_job_runner_bridge/run"


def install():
    original = http.Request._get_session_and_dbname
    if getattr(original, "_queue_job_runner_bridge", False):
        return

    def _get_session_and_dbname(self):
        session, dbname = original(self)
        httprequest = self.httprequest
        if not dbname and httprequest.path == ROUTE:
            wanted = httprequest.headers.get("X-Odoo-Database") or httprequest.args.get("db")
            # db_list applies the dbfilter: a database Odoo would not serve stays unselected.
            if wanted and wanted in http.db_list(force=True, host=httprequest.environ.get("HTTP_HOST")):
                dbname = wanted
        return session, dbname

    _get_session_and_dbname._queue_job_runner_bridge = True
    http.Request._get_session_and_dbname = _get_session_and_dbname
