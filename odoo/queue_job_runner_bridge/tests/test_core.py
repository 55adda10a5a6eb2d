# Copyright 2026 queue-job-runner contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""core.py: catalogue, placeholders, token, body, and execution against a real PostgreSQL."""

import hashlib
import json
import os
import tempfile
import threading
import unittest

import bridge_support as support
from bridge_support import core, requires_database

psycopg2 = support.psycopg2


def body(statements, catalogue=None, **extra):
    data = {"catalogue": catalogue, "statements": statements}
    data.update(extra)
    return json.dumps(data).encode()


class CatalogueTest(unittest.TestCase):
    def test_hash_is_name_nul_text_nul_in_code_point_order(self):
        texts = {"b": "SELECT 2", "a": "SELECT 1", "B": "SELECT 3", "é": "SELECT 4"}
        expected = hashlib.sha256(
            "B\0SELECT 3\0a\0SELECT 1\0b\0SELECT 2\0é\0SELECT 4\0".encode("utf-8")
        ).hexdigest()
        self.assertEqual(core.catalogue_hash(texts), expected)

    def test_a_valid_catalogue_loads_and_converts_each_text_once(self):
        catalogue = support.make_catalogue({"q": "SELECT $1::int, '%'", "plain": "SELECT '%'"})
        self.assertEqual(catalogue.version, "test")
        self.assertEqual(catalogue.statements["q"].sql, "SELECT %(p1)s::int, '%%'")
        self.assertEqual(catalogue.statements["q"].arity, 1)
        # No placeholders: sent as is, without parameters (Odoo's cursor drops an empty mapping).
        self.assertEqual(catalogue.statements["plain"].sql, "SELECT '%'")
        self.assertEqual(catalogue.statements["plain"].arity, 0)

    def test_a_hash_that_does_not_match_the_statements_is_refused(self):
        texts = {"q": "SELECT 1"}
        data = {"version": "1", "sha256": core.catalogue_hash(texts), "statements": texts}
        data["statements"] = {"q": "SELECT 2"}  # edited by hand after generation
        with self.assertRaisesRegex(core.CatalogueError, "does not match"):
            core.parse_catalogue(data)

    def test_malformed_catalogues_are_refused(self):
        good = {"q": "SELECT 1"}
        digest = core.catalogue_hash(good)
        cases = [
            [],
            {"sha256": digest, "statements": good},
            {"version": "1", "sha256": digest.upper(), "statements": good},
            {"version": "1", "sha256": "abc", "statements": good},
            {"version": "1", "sha256": digest, "statements": ["SELECT 1"]},
            {"version": "1", "sha256": digest, "statements": {"q": 1}},
            {"version": "1", "sha256": digest, "statements": {"q": "  "}},
        ]
        for data in cases:
            with self.subTest(data=data):
                with self.assertRaises(core.CatalogueError):
                    core.parse_catalogue(data)

    def test_texts_the_conversion_would_mangle_are_refused(self):
        for text in ("SELECT $$x$$", "SELECT $tag$x$tag$", "SELECT $0", "SELECT $00", "SELECT 'a$'"):
            with self.subTest(text=text):
                with self.assertRaises(core.CatalogueError):
                    support.make_catalogue({"q": text})

    def test_load_reads_a_file_and_reports_an_unreadable_one(self):
        texts = {"q": "SELECT $1::int"}
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "catalogue.json")
            with open(path, "w") as handle:
                json.dump({"version": "9", "sha256": core.catalogue_hash(texts), "statements": texts}, handle)
            self.assertEqual(core.load_catalogue(path).version, "9")
            with open(path, "w") as handle:
                handle.write("{not json")
            with self.assertRaisesRegex(core.CatalogueError, "cannot read"):
                core.load_catalogue(path)
            with self.assertRaisesRegex(core.CatalogueError, "cannot read"):
                core.load_catalogue(os.path.join(folder, "missing.json"))

    def test_the_default_path_is_next_to_core(self):
        self.assertEqual(
            core.CATALOGUE_FILE, os.path.join(os.path.dirname(core.__file__), "catalogue.json")
        )

    def test_the_version_is_the_manifests(self):
        import ast

        with open(os.path.join(support.ADDON, "__manifest__.py")) as handle:
            manifest = ast.literal_eval(handle.read())
        self.assertEqual(manifest["version"], core.VERSION)
        self.assertEqual(manifest["depends"], ["queue_job"])
        self.assertEqual(manifest["license"], "AGPL-3")


class PlaceholderTest(unittest.TestCase):
    def test_percent_is_doubled_before_placeholders_are_converted(self):
        self.assertEqual(
            core.to_pyformat("SELECT '%' || $1 LIKE 'a%'"), "SELECT '%%' || %(p1)s LIKE 'a%%'"
        )
        self.assertEqual(core.to_pyformat("SELECT '%(p1)s'"), "SELECT '%%(p1)s'")

    def test_a_placeholder_may_repeat(self):
        self.assertEqual(core.to_pyformat("$1 + $1 * $2"), "%(p1)s + %(p1)s * %(p2)s")

    def test_ten_is_not_one_followed_by_zero(self):
        self.assertEqual(core.to_pyformat("$10, $1, $100"), "%(p10)s, %(p1)s, %(p100)s")
        self.assertEqual(core.placeholder_count("$10, $1"), 10)

    def test_arity_is_the_highest_placeholder(self):
        self.assertEqual(core.placeholder_count("SELECT 1"), 0)
        self.assertEqual(core.placeholder_count("$2 $1 $2"), 2)
        self.assertEqual(core.placeholder_count("$3"), 3)

    def test_casts_and_arrays_are_left_alone(self):
        self.assertEqual(
            core.to_pyformat("id = ANY($1::int[]) AND x::text = $2"),
            "id = ANY(%(p1)s::int[]) AND x::text = %(p2)s",
        )


class TokenTest(unittest.TestCase):
    token = support.TOKEN
    digest = support.TOKEN_SHA256

    def test_the_right_token_passes(self):
        self.assertTrue(core.check_token("Bearer " + self.token, self.digest))

    def test_a_wrong_token_fails(self):
        self.assertFalse(core.check_token("Bearer " + self.token + "x", self.digest))
        self.assertFalse(core.check_token("Bearer " + "u" * 40, self.digest))

    def test_a_missing_or_malformed_header_fails(self):
        for header in (None, "", "Bearer", "Bearer ", self.token, "Basic " + self.token,
                       "Bearer " + self.token + " extra", "Token " + self.token):
            with self.subTest(header=header):
                self.assertFalse(core.check_token(header, self.digest))

    def test_no_stored_hash_fails_even_for_the_hash_of_nothing(self):
        for stored in (None, False, "", "   ", ",", "not-hex", hashlib.sha256(b"").hexdigest()):
            with self.subTest(stored=stored):
                self.assertFalse(core.check_token("Bearer " + self.token, stored))
        # The stored value is the digest, never the token itself.
        self.assertFalse(core.check_token("Bearer " + self.token, self.token))

    def test_stored_case_and_whitespace_do_not_matter(self):
        self.assertTrue(core.check_token("Bearer " + self.token, "  " + self.digest.upper() + "\n"))

    def test_the_scheme_is_case_insensitive_but_the_token_is_not(self):
        self.assertTrue(core.check_token("bearer " + self.token, self.digest))
        self.assertTrue(core.check_token("  BEARER   " + self.token + "  ", self.digest))
        self.assertFalse(core.check_token("Bearer " + self.token.upper(), self.digest))

    def test_two_stored_hashes_allow_rotation(self):
        other = hashlib.sha256(b"o" * 40).hexdigest()
        self.assertTrue(core.check_token("Bearer " + self.token, other + "," + self.digest))
        self.assertTrue(core.check_token("Bearer " + "o" * 40, other + " , " + self.digest))
        self.assertFalse(core.check_token("Bearer " + "p" * 40, other + "," + self.digest))
        # A malformed half does not disable the other.
        self.assertTrue(core.check_token("Bearer " + self.token, "garbage," + self.digest))

    def test_tokens_shorter_than_32_characters_are_refused_even_when_they_match(self):
        short = "s" * 31
        self.assertFalse(core.check_token("Bearer " + short, hashlib.sha256(short.encode()).hexdigest()))
        exact = "s" * 32
        self.assertTrue(core.check_token("Bearer " + exact, hashlib.sha256(exact.encode()).hexdigest()))

    def test_the_comparison_is_constant_time(self):
        # hmac.compare_digest, on every stored digest: patch it and count the calls.
        calls = []
        original = core.hmac.compare_digest
        core.hmac.compare_digest = lambda a, b: calls.append((a, b)) or original(a, b)
        try:
            other = hashlib.sha256(b"o" * 40).hexdigest()
            core.check_token("Bearer " + self.token, self.digest + "," + other)
        finally:
            core.hmac.compare_digest = original
        self.assertEqual(len(calls), 2)


class BodyTest(unittest.TestCase):
    catalogue = support.fixture_catalogue()

    def parse(self, raw):
        return core.parse_body(raw, self.catalogue)

    def test_a_well_formed_body(self):
        request = self.parse(body([{"name": "t_values", "values": [1, "a", [1, 2], True, None]}], "h"))
        self.assertEqual(request.catalogue, "h")
        self.assertEqual(request.calls, [("t_values", [1, "a", [1, 2], True, None])])
        self.assertFalse(request.rollback)
        self.assertTrue(self.parse(body([], "h", rollback=True)).rollback)

    def test_values_default_to_none(self):
        self.assertEqual(self.parse(body([{"name": "t_pending"}], "h")).calls, [("t_pending", [])])

    def test_malformed_bodies_say_what_is_wrong_without_echoing_values(self):
        secret = "s3cr3t-value"
        cases = {
            b"{not json": "not valid JSON",
            b"\xff\xfe": "not UTF-8",
            b"[]": "not a JSON object",
            json.dumps({"statements": []}).encode(): "catalogue must be",
            body([], 1): "catalogue must be",
            body({}, "h"): "statements must be a list",
            body([], "h", rollback="yes"): "rollback must be",
            body([secret], "h"): r"statements\[0\] must be an object",
            body([{"name": 1}], "h"): r"statements\[0\] must be an object",
            body([{"name": "t_pending", "values": secret}], "h"): r"statements\[0\]\.values must",
            body([{"name": "t_values", "values": [{"a": secret}]}], "h"): r"values\[0\] must be",
            body([{"name": "t_values", "values": [[[secret]]]}], "h"): r"values\[0\] must be",
            b'{"catalogue": "h", "statements": [{"name": "t_values", "values": [NaN]}]}': "not JSON",
            b"[" * 100000 + b"]" * 100000: "nested too deeply|not a JSON object|not valid JSON",
        }
        for raw, message in cases.items():
            with self.subTest(raw=raw[:60]):
                with self.assertRaisesRegex(core.BadRequest, message) as caught:
                    self.parse(raw)
                self.assertNotIn(secret, str(caught.exception))

    def test_the_size_limit(self):
        padding = " " * (core.MAX_BODY_BYTES - len(body([], "h")))
        self.assertIsInstance(self.parse(body([], "h") + padding.encode()), core.Request)
        with self.assertRaises(core.BodyTooLarge):
            self.parse(body([], "h") + padding.encode() + b" ")


class Spy(object):
    """Records whether the request reached the database, and hands out one real cursor if any."""

    def __init__(self, cursor=None):
        self.opened = 0
        self.read = 0
        self.cursor = cursor

    def open_cursor(self):
        self.opened += 1
        if self.cursor is None:
            raise AssertionError("the request reached the database")
        return self.cursor

    def read_body(self, raw):
        def read(limit):
            self.read += 1
            return raw[: limit + 1]

        return read


def exchange(raw=b"", method="POST", token=support.TOKEN, stored=support.TOKEN_SHA256,
             content_type="application/json", content_length="auto", spy=None,
             catalogue=None, db="testdb"):
    spy = spy or Spy()
    values = {}
    if token is not None:
        values["Authorization"] = "Bearer " + token
    if content_type is not None:
        values["Content-Type"] = content_type
    if content_length == "auto":
        values["Content-Length"] = str(len(raw))
    elif content_length is not None:
        values["Content-Length"] = content_length
    loaded = catalogue or support.fixture_catalogue()
    status, answer = core.respond(
        method=method,
        header=support.headers(values),
        read_body=spy.read_body(raw),
        stored_hash=lambda: stored,
        open_cursor=spy.open_cursor,
        catalogue=lambda: loaded,
        db=db,
    )
    json.dumps(answer)  # every answer is JSON
    return status, answer, spy


class RespondBeforeTheDatabaseTest(unittest.TestCase):
    """Every answer that needs no statement; none of them may open a cursor."""

    sha = support.fixture_catalogue().sha256

    def test_anything_but_post_is_405(self):
        for method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"):
            with self.subTest(method=method):
                status, answer, spy = exchange(body([], self.sha), method=method)
                self.assertEqual((status, answer), (405, {"error": "method_not_allowed"}))
                self.assertEqual(spy.read, 0)

    def test_401_has_no_detail_and_is_the_same_for_every_cause(self):
        raw = body([{"name": "t_pending"}], self.sha)
        answers = [
            exchange(raw, token=None),
            exchange(raw, token="w" * 40),
            exchange(raw, stored=None),
            exchange(raw, stored=""),
        ]
        for status, answer, spy in answers:
            self.assertEqual((status, answer), (401, {"error": "unauthorized"}))
            self.assertEqual((spy.read, spy.opened), (0, 0))

    def test_the_token_is_checked_before_the_body_is_looked_at(self):
        for raw, content_type, length in ((b"{bad", "application/json", "auto"),
                                          (b"x", "text/plain", "auto"),
                                          (b"", "application/json", str(10 ** 9))):
            with self.subTest(content_type=content_type, length=length):
                status, _answer, spy = exchange(raw, token="w" * 40, content_type=content_type,
                                                content_length=length)
                self.assertEqual(status, 401)
                self.assertEqual(spy.read, 0)

    def test_json_only(self):
        raw = body([], self.sha)
        for content_type in (None, "text/plain", "application/x-www-form-urlencoded",
                             "multipart/form-data; boundary=x", "application/jsonx"):
            with self.subTest(content_type=content_type):
                status, answer, spy = exchange(raw, content_type=content_type)
                self.assertEqual((status, answer), (415, {"error": "unsupported_media_type"}))
                self.assertEqual(spy.read, 0)
        status, _answer, _spy = exchange(raw, content_type="Application/JSON; charset=utf-8",
                                         spy=Spy(cursor=NullCursor()))
        self.assertEqual(status, 200)

    def test_a_declared_length_over_the_limit_is_413_without_reading(self):
        status, answer, spy = exchange(b"", content_length=str(core.MAX_BODY_BYTES + 1))
        self.assertEqual((status, answer), (413, {"error": "body_too_large"}))
        self.assertEqual(spy.read, 0)

    def test_a_body_longer_than_declared_or_undeclared_is_413_after_a_bounded_read(self):
        raw = body([], self.sha) + b" " * core.MAX_BODY_BYTES
        status, answer, _spy = exchange(raw, content_length=None)
        self.assertEqual((status, answer), (413, {"error": "body_too_large"}))

    def test_a_read_that_knows_the_body_is_too_large(self):
        def read(limit):
            raise core.BodyTooLarge()

        status, answer = core.respond("POST", support.headers({
            "Authorization": "Bearer " + support.TOKEN, "Content-Type": "application/json"}),
            read, lambda: support.TOKEN_SHA256, Spy().open_cursor,
            support.fixture_catalogue, "db")
        self.assertEqual((status, answer), (413, {"error": "body_too_large"}))

    def test_malformed_json_is_400_with_a_detail(self):
        status, answer, _spy = exchange(b"{bad")
        self.assertEqual(status, 400)
        self.assertEqual(answer["error"], "bad_request")
        self.assertIn("JSON", answer["detail"])
        status, answer, _spy = exchange(b"", content_length="ten")
        self.assertEqual((status, answer["error"]), (400, "bad_request"))

    def test_another_catalogue_is_409_with_the_addons_version_and_hash(self):
        status, answer, _spy = exchange(body([{"name": "t_pending"}], "0" * 64))
        self.assertEqual(status, 409)
        self.assertEqual(
            answer, {"error": "catalogue_mismatch", "version": core.VERSION, "catalogue": self.sha}
        )

    def test_an_unknown_name_is_400_unknown_statement(self):
        raw = body([{"name": "t_pending"}, {"name": "DROP TABLE queue_job"}], self.sha)
        status, answer, _spy = exchange(raw)
        self.assertEqual((status, answer), (400, {"error": "unknown_statement", "name": "DROP TABLE queue_job"}))

    def test_the_wrong_number_of_values_is_400(self):
        status, answer, _spy = exchange(body([{"name": "t_divide", "values": [1, 2]}], self.sha))
        self.assertEqual(status, 400)
        self.assertEqual(answer["error"], "bad_request")
        self.assertIn("t_divide", answer["detail"])
        self.assertIn("takes 1 values, got 2", answer["detail"])

    def test_a_broken_catalogue_file_is_500_after_the_token_check(self):
        def broken():
            raise core.CatalogueError("the catalogue's sha256 does not match")

        headers = support.headers({"Authorization": "Bearer " + support.TOKEN,
                                   "Content-Type": "application/json"})
        status, answer = core.respond("POST", headers, lambda limit: body([], "x"),
                                      lambda: support.TOKEN_SHA256, Spy().open_cursor, broken, "db")
        self.assertEqual(status, 500)
        self.assertEqual(answer["error"], "catalogue_invalid")
        headers = support.headers({"Content-Type": "application/json"})
        status, _answer = core.respond("POST", headers, lambda limit: body([], "x"),
                                       lambda: support.TOKEN_SHA256, Spy().open_cursor, broken, "db")
        self.assertEqual(status, 401)


class NullCursor(object):
    """Accepts the transaction setup of a handshake; anything else is a test bug."""

    def __init__(self):
        self.executed = []
        self.finished = []

    def execute(self, query, params=None):
        assert query in core.TRANSACTION_SETUP, query
        self.executed.append(query)

    def commit(self):
        self.finished.append("commit")

    def rollback(self):
        self.finished.append("rollback")

    def close(self):
        self.finished.append("close")


class HandshakeTest(unittest.TestCase):
    def test_an_empty_request_answers_version_catalogue_and_db(self):
        cursor = NullCursor()
        sha = support.fixture_catalogue().sha256
        status, answer, spy = exchange(body([], sha), spy=Spy(cursor), db="prod")
        self.assertEqual(status, 200)
        self.assertEqual(answer, {"version": core.VERSION, "catalogue": sha, "db": "prod", "results": []})
        self.assertEqual(cursor.executed, list(core.TRANSACTION_SETUP))
        self.assertEqual(cursor.finished, ["commit", "close"])


@requires_database
class ExecuteTest(unittest.TestCase):
    """core.execute on real cursors: rows, types, errors, rollback, locks."""

    @classmethod
    def setUpClass(cls):
        cls.catalogue = support.fixture_catalogue()
        cls.admin = support.connect()
        with cls.admin.cursor() as cursor:
            cursor.execute(support.RAISE_FUNCTION)
        cls.admin.commit()

    @classmethod
    def tearDownClass(cls):
        with cls.admin.cursor() as cursor:
            cursor.execute("DROP FUNCTION IF EXISTS qjr_test_raise(text)")
        cls.admin.commit()
        cls.admin.close()

    def setUp(self):
        with self.admin.cursor() as cursor:
            cursor.execute("DELETE FROM queue_job")
        self.admin.commit()
        self.connection = support.connect()
        self.addCleanup(self.connection.close)

    def run_calls(self, calls, rollback=False, connection=None):
        connection = connection or self.connection
        request = core.Request(self.catalogue.sha256, calls, rollback)
        self.assertIsNone(core.resolve(request, self.catalogue))
        with connection.cursor() as cursor:
            return core.execute(cursor, request, self.catalogue, "testdb")

    def state_of(self, job_uuid):
        with self.admin.cursor() as cursor:
            cursor.execute("SELECT state FROM queue_job WHERE uuid = %s", (job_uuid,))
            row = cursor.fetchone()
        self.admin.commit()
        return row and row[0]

    def test_values_reach_their_placeholders(self):
        status, answer = self.run_calls([("t_values", [21, "it's", [3, 4, 5], True, None]),
                                         ("t_values", [0, "", [], False, "x"])])
        self.assertEqual(status, 200)
        self.assertEqual(answer["version"], core.VERSION)
        self.assertEqual(answer["catalogue"], self.catalogue.sha256)
        self.assertEqual(answer["db"], "testdb")
        first, second = answer["results"]
        self.assertEqual(first, {"rows": [{"one": 21, "doubled": 42, "text": "it's", "ids": [3, 4, 5],
                                           "n": 3, "flag": True, "missing": True}], "rowCount": 1})
        # An empty list is an empty array thanks to the explicit cast.
        self.assertEqual(second["rows"][0]["ids"], [])
        self.assertEqual(second["rows"][0]["n"], 0)
        self.assertFalse(second["rows"][0]["missing"])

    def test_dollar_ten_is_the_tenth_value(self):
        status, answer = self.run_calls([("t_ten", ["first", 1, 2, 3, 4, 5, 6, 7, 8, "tenth"])])
        self.assertEqual(status, 200)
        self.assertEqual(answer["results"][0]["rows"], [{"joined": "tenth-first", "total": 36}])

    def test_percent_signs_survive_with_and_without_values(self):
        status, answer = self.run_calls([("t_percent", ["root.a%"]), ("t_percent_plain", [])])
        self.assertEqual(status, 200)
        self.assertEqual(answer["results"][0]["rows"],
                         [{"literal": "a%b", "matches": True, "replaced": "root.apct"}])
        self.assertEqual(answer["results"][1]["rows"], [{"literal": "100%", "matches": True}])

    def test_row_values_are_json(self):
        status, answer = self.run_calls([("t_types", [])])
        self.assertEqual(status, 200)
        row = answer["results"][0]["rows"][0]
        self.assertEqual(row, {"dec": 1.5, "ts": "2026-01-02T03:04:05.500000", "day": "2026-01-02",
                               "doc": {"a": [1, 2]}, "list": [3], "nothing": None,
                               "big": 9007199254740993, "f": 0.25})
        self.assertIsInstance(row["dec"], float)
        json.dumps(answer)

    def test_writes_commit_and_row_counts_are_reported(self):
        job = support.new_uuid()
        status, answer = self.run_calls([("t_insert_job", [job, "root"]),
                                         ("t_set_state", [job, "enqueued"]),
                                         ("t_set_state", [support.new_uuid(), "enqueued"])])
        self.assertEqual(status, 200)
        inserted, updated, missed = answer["results"]
        self.assertEqual(inserted["rowCount"], 1)
        self.assertEqual(inserted["rows"][0]["uuid"], job)
        self.assertEqual(updated, {"rows": [], "rowCount": 1})
        self.assertEqual(missed, {"rows": [], "rowCount": 0})
        self.assertEqual(self.state_of(job), "enqueued")

    def test_rollback_true_runs_everything_and_keeps_nothing(self):
        job = support.new_uuid()
        status, answer = self.run_calls([("t_insert_job", [job, "root"]), ("t_job_state", [job])],
                                        rollback=True)
        self.assertEqual(status, 200)
        self.assertEqual(answer["results"][1]["rows"], [{"state": "pending"}])  # seen inside
        self.assertIsNone(self.state_of(job))  # gone after

    def test_a_database_error_is_500_with_sqlstate_and_primary_message_and_rolls_back(self):
        job = support.new_uuid()
        status, answer = self.run_calls([("t_insert_job", [job, "root"]), ("t_divide", [0])])
        self.assertEqual(status, 500)
        self.assertEqual(answer, {"error": "database", "code": "22012",
                                  "message": "division by zero", "statement": "t_divide"})
        self.assertIsNone(self.state_of(job))
        # The connection is usable again (the transaction was ended).
        self.assertEqual(self.run_calls([("t_pending", [])])[0], 200)

    def test_a_bad_value_is_a_database_error_not_a_crash(self):
        status, answer = self.run_calls([("t_divide", ["not a number"])])
        self.assertEqual(status, 500)
        self.assertEqual(answer["code"], "22P02")
        self.assertIn("invalid input syntax", answer["message"])

    def test_serialization_failures_deadlocks_and_lock_timeouts_are_busy(self):
        for code in ("40001", "40P01", "55P03"):
            with self.subTest(code=code):
                job = support.new_uuid()
                status, answer = self.run_calls([("t_insert_job", [job, "root"]), ("t_raise", [code])])
                self.assertEqual((status, answer), (503, {"error": "busy", "code": code, "statement": "t_raise"}))
                self.assertIsNone(self.state_of(job))

    def test_other_sqlstates_are_database_errors(self):
        for code in ("23505", "57014", "42501", "XX000"):
            with self.subTest(code=code):
                status, answer = self.run_calls([("t_raise", [code])])
                self.assertEqual(status, 500)
                self.assertEqual((answer["code"], answer["message"]), (code, "raised on purpose"))

    def test_a_held_baton_yields_busy_after_the_lock_timeout(self):
        holder = support.connect()
        self.addCleanup(holder.close)
        with holder.cursor() as cursor:
            cursor.execute("SELECT id FROM queue_job_channel WHERE complete_name = 'root' FOR UPDATE")
            self.assertEqual(cursor.rowcount, 1)
        try:
            status, answer = self.run_calls([("t_pending", []), ("t_baton", [])])
        finally:
            holder.rollback()
        self.assertEqual((status, answer), (503, {"error": "busy", "code": "55P03", "statement": "t_baton"}))
        status, answer = self.run_calls([("t_baton", [])])
        self.assertEqual(status, 200)
        self.assertEqual(answer["results"][0]["rowCount"], 1)

    def test_the_transaction_is_read_committed_with_bounded_waits_even_on_odoos_cursors(self):
        odoo_like = support.connect(psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ)
        self.addCleanup(odoo_like.close)
        status, answer = self.run_calls([("t_settings", [])], connection=odoo_like)
        self.assertEqual(status, 200)
        self.assertEqual(answer["results"][0]["rows"], [{
            "isolation": "read committed", "lock_timeout": "2s", "statement_timeout": "15s",
            "idle_timeout": "45s"}])
        # SET LOCAL: nothing leaks into the connection's next transaction.
        with odoo_like.cursor() as cursor:
            cursor.execute("SELECT current_setting('lock_timeout'), current_setting('transaction_isolation')")
            self.assertEqual(cursor.fetchone(), ("0", "repeatable read"))
        odoo_like.rollback()

    def test_a_waiting_pass_sees_the_claims_of_the_pass_it_waited_for(self):
        # Why READ COMMITTED: with Odoo's REPEATABLE READ the second request's snapshot would be
        # taken before the baton was granted and would miss the first request's committed job.
        first = support.connect()
        self.addCleanup(first.close)
        odoo_like = support.connect(psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ)
        self.addCleanup(odoo_like.close)
        with first.cursor() as cursor:
            cursor.execute("SELECT id FROM queue_job_channel WHERE complete_name = 'root' FOR NO KEY UPDATE")
        outcome = {}

        def second_pass():
            outcome["result"] = self.run_calls([("t_baton", []), ("t_pending", [])], connection=odoo_like)

        waiting = threading.Thread(target=second_pass)
        waiting.start()
        # The second pass is queued on the baton once pg_locks shows it waiting.
        with self.admin.cursor() as cursor:
            for _attempt in range(200):
                cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype IN ('transactionid', 'tuple')")
                if cursor.fetchone()[0]:
                    break
                self.admin.rollback()
                threading.Event().wait(0.01)
        self.admin.rollback()
        with first.cursor() as cursor:
            cursor.execute("INSERT INTO queue_job (uuid, state, date_created) VALUES (%s, 'pending', now())",
                           (support.new_uuid(),))
        first.commit()
        waiting.join(10)
        status, answer = outcome["result"]
        self.assertEqual(status, 200)
        self.assertEqual(answer["results"][1]["rows"], [{"n": 1}])

    def test_a_lost_connection_is_a_database_error(self):
        doomed = support.connect()
        with doomed.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        doomed.commit()
        with self.admin.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
        self.admin.commit()
        status, answer = self.run_calls([("t_pending", [])], connection=doomed)
        self.assertEqual(status, 500)
        self.assertEqual(answer["error"], "database")
        self.assertTrue(answer["code"].startswith(("08", "57P01")), answer)
        doomed.close()


@requires_database
class RespondTest(unittest.TestCase):
    """core.respond end to end on a real cursor: what the controller and serve.py return."""

    def setUp(self):
        self.connection = support.connect()
        self.addCleanup(self.connection.close)

    def test_a_request_runs_and_closes_its_cursor(self):
        catalogue = support.fixture_catalogue()
        cursor = self.connection.cursor()
        status, answer, spy = exchange(
            body([{"name": "t_values", "values": [1, "a", [], False, None]}], catalogue.sha256),
            spy=Spy(cursor), catalogue=catalogue)
        self.assertEqual(status, 200)
        self.assertEqual(answer["results"][0]["rows"][0]["one"], 1)
        self.assertEqual(spy.opened, 1)
        self.assertTrue(cursor.closed)

    def test_a_cursor_that_cannot_open_is_a_database_error(self):
        def refuse():
            psycopg2.connect(support.DSN, dbname="qjr_missing_db")

        sha = support.fixture_catalogue().sha256
        headers = support.headers({"Authorization": "Bearer " + support.TOKEN,
                                   "Content-Type": "application/json"})
        status, answer = core.respond("POST", headers, lambda limit: body([], sha),
                                      lambda: support.TOKEN_SHA256, refuse,
                                      support.fixture_catalogue, "db")
        self.assertEqual(status, 500)
        self.assertEqual(answer["error"], "database")


if __name__ == "__main__":
    unittest.main()
