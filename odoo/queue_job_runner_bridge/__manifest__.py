# Copyright 2026 queue-job-runner contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
{
    "name": "Queue Job Runner Bridge",
    "summary": "Lets the serverless queue-job-runner claim, sweep and report queue jobs over HTTPS",
    "version": "0.2.0",
    "category": "Hidden",
    "license": "AGPL-3",
    "author": "queue-job-runner contributors",
    "depends": ["queue_job"],
    "data": [],
    "installable": True,
    "post_load": "post_load",
    "application": False,
}
