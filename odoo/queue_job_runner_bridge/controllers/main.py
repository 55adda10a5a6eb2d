# Copyright 2026 queue-job-runner contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The bridge's Odoo side, kept thin: what to answer is decided by core.respond().

Same code on Odoo 16.0 to 19.0. It only touches APIs those versions share: http.route, the request's
werkzeug-backed httprequest (method, headers, get_data), request.env / registry.cursor(),
ir.config_parameter.get_param and http.Response.
"""

import inspect
import logging
import traceback

from werkzeug.exceptions import RequestEntityTooLarge

from odoo import SUPERUSER_ID, http
from odoo.http import request

from .. import core

_logger = logging.getLogger(__name__)

_catalogue_cache = []


def _catalogue():
    # Loaded (and its hash verified) once per worker; a broken file is re-read on each request, so a
    # fixed deployment recovers without a restart.
    if not _catalogue_cache:
        _catalogue_cache.append(core.load_catalogue())
    return _catalogue_cache[0]


def _takes_log_exceptions(execute):
    try:
        parameters = inspect.signature(execute).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "log_exceptions" or p.kind == p.VAR_KEYWORD for p in parameters)


class _QuietCursor(object):
    """Odoo's cursor without its "bad query" error log, which prints the statement's parameters
    (values from the request body). core.py maps the error to an answer instead."""

    def __init__(self, cr):
        self._cr = cr
        self._quiet = _takes_log_exceptions(type(cr).execute)

    def execute(self, query, params=None):
        if self._quiet:
            return self._cr.execute(query, params, log_exceptions=False)
        return self._cr.execute(query, params)

    @property
    def description(self):
        return self._cr.description

    @property
    def rowcount(self):
        return self._cr.rowcount

    def fetchall(self):
        return self._cr.fetchall()

    def commit(self):
        return self._cr.commit()

    def rollback(self):
        return self._cr.rollback()

    def close(self):
        return self._cr.close()


def _read_body(httprequest, limit):
    # Werkzeug's input stream when this Odoo exposes it (bounded read); Odoo 17+ wraps the request
    # and exposes get_data() only, whose length core.respond() checked against Content-Length first.
    stream = getattr(httprequest, "stream", None)
    try:
        if stream is not None:
            return stream.read(limit + 1)
        return httprequest.get_data(cache=False)
    except RequestEntityTooLarge:
        raise core.BodyTooLarge()


def _response(status, answer):
    headers = [("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-store")]
    if status == 405:
        headers.append(("Allow", "POST"))
    return http.Response(core.encode(answer), status=status, headers=headers)


class QueueJobRunnerBridge(http.Controller):
    # Every method reaches the endpoint so that anything but POST gets the protocol's JSON 405.
    # readonly=False: Odoo 18+ serves auth="none" routes on a read-only cursor by default and would
    # replay the request on a read/write one after the first write; 16.0 and 17.0 ignore the key.
    @http.route(
        "/queue_job_runner_bridge/run",
        type="http",
        auth="none",
        csrf=False,
        save_session=False,
        readonly=False,
    )
    def run(self, **params):
        httprequest = request.httprequest
        configured = []
        if not request.db:
            # A server-wide module's route is also served without a database: no token can be checked
            # (its hash lives in the database), so answer only that none was selected.
            return _response(404, {"error": "database_not_selected"})

        def stored_hash():
            env = request.env(user=SUPERUSER_ID)
            value = env["ir.config_parameter"].sudo().get_param(core.TOKEN_PARAMETER)
            configured.append(bool(value))
            return value or None

        try:
            # The statements run on a cursor of their own: their errors are answered here, never
            # raised into Odoo's retrying(), which would replay the whole request.
            status, answer = core.respond(
                method=httprequest.method,
                header=httprequest.headers.get,
                read_body=lambda limit: _read_body(httprequest, limit),
                stored_hash=stored_hash,
                open_cursor=lambda: _QuietCursor(request.env.registry.cursor()),
                catalogue=_catalogue,
                db=request.db,
            )
        except Exception as error:
            # Frames only: the exception's message could quote a value of the request.
            _logger.error(
                "queue_job_runner_bridge: internal error %s\n%s",
                type(error).__name__,
                "".join(traceback.format_tb(error.__traceback__)),
            )
            status, answer = core.INTERNAL
        if status == 401:
            _logger.warning(
                "queue_job_runner_bridge: refused a request from %s: %s",
                httprequest.remote_addr,
                "wrong or missing token" if any(configured)
                else "system parameter %s is not set" % core.TOKEN_PARAMETER,
            )
        elif status >= 500:
            _logger.log(
                logging.INFO if status == 503 else logging.WARNING,
                "queue_job_runner_bridge: answered %s %s%s",
                status,
                answer.get("error"),
                " (SQLSTATE %s)" % answer["code"] if "code" in answer else "",
            )
        return _response(status, answer)
