# Copyright 2026 queue-job-runner contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The real catalogue.json (generated from the runner's shared/sql.ts by `npm run catalogue`):
its hash, and every statement running through core.execute on psycopg2, which inlines values as
literals where node-postgres sends typed-later parameters."""

import os
import unittest

import bridge_support as support
from bridge_support import core, requires_database

MISSING = None if os.path.exists(core.CATALOGUE_FILE) else (
    "catalogue.json is not generated yet (npm run catalogue)")
requires_catalogue = unittest.skipIf(MISSING is not None, MISSING or "")

# Plausible values for each statement, in the runner's shapes. A statement missing here fails
# test_every_statement_has_values: add it, so that it is proven to run through the Python core.
VALUES = {
    "qjr_baton": [],
    "qjr_capabilities": ["odoo-{pid}", ["id", "uuid", "no_such_column"], ["SELECT 1"], ["%\"select_jobs\"%"]],
    "qjr_candidates_index": [5, ["root.full", "full"], ["root.full.%", "full.%"]],
    "qjr_candidates_scan": [5, ["root.full", "full"], ["root.full.%", "full.%"]],
    "qjr_channel_status": [],
    "qjr_claim": [[1, 2], ["root.a"], [0], ["root.seq"], [], ["root.t"], ["root.t.%"], [10], [None], True, ["root.sd"],
                  ["root.a", None]],
    "qjr_claim_index": [[1, 2], ["root.a"], [0], ["root.seq"], [], ["root.t"], ["root.t.%"], [10], [None], True,
                        ["root.sd"], ["root.a", None]],
    "qjr_claim_named": [[1], [], [], [], [], [], [], [], [], False, [], ["root.a"]],
    "qjr_claim_named_index": [[1], [], [], [], [], ["root.t"], ["root.t.%"], [10], [None], False, [], ["root.a"]],
    "qjr_current_database": [],
    "qjr_database_now": [],
    "qjr_dead_enqueued_by_channel": [60],
    "qjr_dead_started_by_connection_by_channel": [10, "odoo-{pid}"],
    "qjr_dead_started_by_lock_by_channel": [10],
    "qjr_dead_started_by_locks_by_channel": [10],
    "qjr_due_in_channel": ["root.a", 10, "root.a.%"],
    "qjr_helper_indexes_present": [["queue_job_runner_pending_idx", "queue_job_runner_eta_idx",
                                    "queue_job_runner_enqueued_idx"]],
    "qjr_jobs_by_uuid": [["00000000-0000-0000-0000-000000000000"]],
    "qjr_odoo_connections_visible": ["odoo-{pid}"],
    "qjr_pass_state": [["root.seq"], ["root.t"], ["root.t.%"], [10], ["root.sd"], 4],
    "qjr_pass_state_index": [["root.seq"], ["root.t"], ["root.t.%"], [10], ["root.sd"], 4],
    "qjr_pending_due_soon": [60],
    "qjr_revert": [[1, 2]],
    "qjr_started_unjudged": [10, "odoo-{pid}"],
    "qjr_sweep_enqueued": [60],
    "qjr_sweep_started_by_connection": [10, "odoo-{pid}"],
    "qjr_sweep_started_by_lock": [10],
    "qjr_sweep_started_by_locks": [10],
    "qjr_web_base_url": [],
}


@requires_catalogue
class CatalogueFileTest(unittest.TestCase):
    def test_the_committed_file_loads_and_its_hash_matches_its_statements(self):
        catalogue = core.load_catalogue()
        self.assertTrue(catalogue.statements)
        self.assertEqual(catalogue.sha256, core.catalogue_hash(
            {name: statement.text for name, statement in catalogue.statements.items()}))

    def test_placeholders_are_numbered_without_gaps(self):
        # PostgreSQL cannot type a parameter that is never used; psycopg2 would not notice.
        for name, statement in core.load_catalogue().statements.items():
            with self.subTest(name=name):
                used = {int(n) for n in core._PLACEHOLDER.findall(statement.text)}
                self.assertEqual(used, set(range(1, statement.arity + 1)))

    def test_every_statement_has_values(self):
        names = set(core.load_catalogue().statements)
        self.assertEqual(sorted(names - set(VALUES)), [], "add their values to VALUES in this file")


@requires_catalogue
@requires_database
class CatalogueStatementsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.catalogue = core.load_catalogue()
        cls.admin = support.connect()

    @classmethod
    def tearDownClass(cls):
        cls.admin.close()

    def setUp(self):
        self.sql("DELETE FROM queue_job")
        self.connection = support.connect(support.psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ)
        self.addCleanup(self.connection.close)

    def sql(self, text, params=None):
        with self.admin.cursor() as cursor:
            cursor.execute(text, params)
            rows = cursor.fetchall() if cursor.description else None
        self.admin.commit()
        return rows

    def job(self, state="pending", channel="root", enqueued_seconds_ago=None):
        return self.sql(
            "INSERT INTO queue_job (uuid, state, channel, priority, date_created, date_enqueued) "
            "VALUES (%s, %s, %s, 10, now() AT TIME ZONE 'utc' - interval '1 minute', "
            "now() AT TIME ZONE 'utc' - %s * interval '1 second') RETURNING id",
            (support.new_uuid(), state, channel, enqueued_seconds_ago),
        )[0][0]

    def run_calls(self, calls, rollback=False):
        request = core.Request(self.catalogue.sha256, calls, rollback)
        self.assertIsNone(core.resolve(request, self.catalogue))
        with self.connection.cursor() as cursor:
            return core.execute(cursor, request, self.catalogue, "testdb")

    def ok(self, calls, rollback=False):
        status, answer = self.run_calls(calls, rollback)
        self.assertEqual(status, 200, answer)
        return answer["results"]

    def test_every_statement_runs(self):
        # The lock tables of newer queue_job versions exist for the statements that read them.
        self.sql("CREATE TABLE IF NOT EXISTS queue_job_lock (queue_job_id integer)")
        self.sql("CREATE TABLE IF NOT EXISTS queue_job_locks (id integer)")
        self.addCleanup(self.sql, "DROP TABLE IF EXISTS queue_job_lock, queue_job_locks")
        self.job("pending", "root.a")
        self.job("enqueued", "root.a", enqueued_seconds_ago=600)
        for name in sorted(self.catalogue.statements):
            with self.subTest(name=name):
                self.ok([(name, VALUES[name])], rollback=True)

    def test_the_baton_is_the_root_channel_row(self):
        (baton,) = self.ok([("qjr_baton", [])])
        self.assertEqual(baton["rows"], [{"rootBaton": True, "fallback": None}])

    def test_a_held_baton_is_busy(self):
        holder = support.connect()
        self.addCleanup(holder.close)
        with holder.cursor() as cursor:
            cursor.execute("SELECT 1 FROM queue_job_channel WHERE complete_name = 'root' FOR UPDATE")
        try:
            status, answer = self.run_calls([("qjr_baton", []), ("qjr_pass_state", [[], [], [], [], [], None])])
        finally:
            holder.rollback()
        self.assertEqual((status, answer["error"], answer["code"]), (503, "busy", "55P03"))

    def test_the_pass_state_under_the_baton(self):
        self.job("enqueued", "root.a")
        self.job("started", "root.a")
        self.job("started", "root")
        self.job("failed", "root.seq")
        self.job("pending", "root.b")
        _baton, state = self.ok([("qjr_baton", []), ("qjr_pass_state", [["root.seq"], [], [], [], [], None])])
        row = state["rows"][0]
        self.assertEqual(sorted((r["channel"], r["n"]) for r in row["running"]), [("root", 1), ("root.a", 2)])
        self.assertEqual(row["failed"], ["root.seq"])
        self.assertEqual(row["due"], True)
        self.assertIsInstance(row["now"], float)

    def claim(self, ids, running, failed_known=(), sequential=(), check=True, planned_channels=None):
        channels = [channel for channel, _n in running]
        counts = [n for _channel, n in running]
        if planned_channels is None:  # as the plan read them
            planned_channels = [self.sql("SELECT channel FROM queue_job WHERE id = %s", (i,))[0][0] for i in ids]
        calls = [("qjr_baton", []), ("qjr_claim", [
            ids, channels, counts, list(sequential), list(failed_known), [], [], [], [], check, [],
            planned_channels])]
        _baton, claim = self.ok(calls)
        row = claim["rows"][0]
        return row["holds"], sorted(job["id"] for job in row["claimed"])

    def states(self, ids):
        return [row[0] for row in self.sql("SELECT state FROM queue_job WHERE id = ANY(%s) ORDER BY id", (ids,))]

    def test_the_checked_claim_takes_the_planned_jobs_when_the_plan_still_holds(self):
        self.job("started", "root.a")
        planned = [self.job("pending", "root.a"), self.job("pending", "root.a")]
        self.assertEqual(self.claim(planned, [("root.a", 1)]), (True, planned))
        self.assertEqual(self.states(planned), ["enqueued", "enqueued"])
        # Claimed once only: a second claim of the same ids finds nothing pending.
        self.assertEqual(self.claim(planned, [("root.a", 3)]), (True, []))

    def test_the_checked_claim_refuses_when_a_channel_gained_running_jobs(self):
        self.job("started", "root.a")
        self.job("enqueued", "root.a")  # claimed by another pass since the plan was read
        planned = [self.job("pending", "root.a")]
        self.assertEqual(self.claim(planned, [("root.a", 1)]), (False, []))
        self.assertEqual(self.states(planned), ["pending"])

    def test_the_checked_claim_refuses_when_a_sequential_channel_gained_a_failed_job(self):
        self.job("failed", "root.seq")
        planned = [self.job("pending", "root.seq")]
        self.assertEqual(self.claim(planned, [], sequential=["root.seq"]), (False, []))
        # Known to the plan already (it planned around it): the claim goes ahead.
        self.assertEqual(self.claim(planned, [], sequential=["root.seq"], failed_known=["root.seq"]),
                         (True, planned))

    def test_the_claim_skips_a_job_moved_to_another_channel_since_the_plan(self):
        planned = [self.job("pending", "root.a"), self.job("pending", "root.a")]
        self.sql("UPDATE queue_job SET channel = 'root.b' WHERE id = %s", (planned[1],))
        self.assertEqual(self.claim(planned, [], planned_channels=["root.a", "root.a"]), (True, planned[:1]))
        self.assertEqual(self.states(planned), ["enqueued", "pending"])

    def test_an_unchecked_claim_and_the_guarded_revert(self):
        self.job("started", "root.a")
        planned = [self.job("pending", "root.a")]
        self.assertEqual(self.claim(planned, [], check=False), (True, planned))
        (revert,) = self.ok([("qjr_revert", [planned])])
        self.assertEqual([row["id"] for row in revert["rows"]], planned)
        self.assertEqual(self.states(planned), ["pending"])


if __name__ == "__main__":
    unittest.main()
