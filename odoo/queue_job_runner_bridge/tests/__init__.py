# These tests run without Odoo (python3 -m unittest discover -s odoo/queue_job_runner_bridge/tests),
# against a PostgreSQL holding the queue_job schema; see README.rst, "Testing". Nothing is imported
# here on purpose: Odoo's test loader collects the test_* modules this package imports, so it finds
# none and the addon installs with --test-enable unchanged.
