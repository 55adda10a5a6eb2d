# An Odoo.sh build served through the companion addon (odoo/queue_job_runner_bridge): Odoo.sh exposes no
# PostgreSQL, so the runner claims over HTTPS with a token, and needs no database URL and no VPC egress.
#
#   1. Add odoo/queue_job_runner_bridge to the build's repository next to queue_job, install it.
#   2. Switch off queue_job's built-in runner: [queue_job] channels = root:0 in ~/.config/odoo/odoo.conf,
#      then odoosh-restart http (Odoo.sh sets no environment variables).
#   3. A token:  export TF_VAR_odoo_bridge_token="$(openssl rand -hex 32)"
#      and its SHA-256 in Odoo (Settings > Technical > System Parameters):
#      queue_job_runner_bridge.token_sha256 = $(printf %s "$TF_VAR_odoo_bridge_token" | sha256sum | cut -d' ' -f1)
#   4. cp terraform.tfvars.example terraform.tfvars; terraform init && terraform apply
#
# Provider configuration lives here, in the root; the module itself has none.

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

variable "project_id" {
  type        = string
  description = "Google Cloud project to deploy into."
}

variable "region" {
  type        = string
  description = "Region of the functions and scheduler jobs; near the Odoo.sh build's region (every claim is a round trip)."
}

variable "odoo_url" {
  type        = string
  description = "URL of the Odoo.sh build, e.g. https://mycompany.odoo.com or https://mycompany-main-1234567.dev.odoo.com."
}

variable "odoo_db" {
  type        = string
  description = "The build's database name, when Odoo serves several (the addon answers only for this one). null = Odoo's single database."
  default     = null
}

variable "odoo_bridge_token" {
  type        = string
  description = "Token of the companion addon (at least 32 characters); Odoo keeps its SHA-256. Pass it as TF_VAR_odoo_bridge_token."
  sensitive   = true
}

variable "odoo_queue_job_channels" {
  type        = string
  description = "Channel capacities, e.g. \"root:2\". A running job holds one of the build's HTTP workers for its whole run: leave users at least one."
  default     = "root:1"
}

module "queue_job_runner" {
  source = "../.."

  project_id              = var.project_id
  region                  = var.region
  enable_apis             = true
  odoo_url                = var.odoo_url
  odoo_db                 = var.odoo_db
  odoo_bridge_token       = var.odoo_bridge_token
  odoo_queue_job_channels = var.odoo_queue_job_channels
  # The bridge reaches Odoo over the internet like any HTTPS client: no static_egress needed.
}

output "function_urls" {
  description = "URLs of the tick, keepalive, dispatch and status functions."
  value       = module.queue_job_runner.function_urls
}

output "scheduler_jobs" {
  description = "Cloud Scheduler job names."
  value       = module.queue_job_runner.scheduler_jobs
}
