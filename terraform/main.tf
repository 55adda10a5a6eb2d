# queue-job-runner on Google Cloud: the serverless replacement of queue_job's built-in jobrunner.
#
#   source.tf      the functions' source: this checkout, zipped (minus .gcloudignore), in a bucket
#   functions.tf   one Cloud Run function (2nd gen, nodejs24) per entry point: tick, keepalive, dispatch, status
#   settings.tf    which runner setting is a plain value, a secret, or left unset
#   secrets.tf     Secret Manager secrets for database URLs and passwords
#   iam.tf         the runtime and scheduler service accounts, and their only grants
#   scheduler.tf   Cloud Scheduler: two tick jobs (a window always open), keepalive, cron-triggered manual runs
#   checks.tf      plan-time checks that tie inputs together (CPU against memory)
#   monitoring.tf  uptime checks on Odoo's /web/health and optional alert policies
#   network.tf     optional static egress (VPC connector + Cloud NAT with a reserved address)
#   apis.tf        optional enabling of the APIs
#
# Usable as a root module (terraform apply -var project_id=... -var region=..., default provider with
# Application Default Credentials) or as a child module (examples/minimal). README.md is the deploy guide.

locals {
  labels = merge(var.labels, { app = "queue-job-runner", managed-by = "terraform" })
}
