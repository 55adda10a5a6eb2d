# The smallest deployment: one Odoo database, the tick every minute, keepalive every 5 minutes.
#
#   cp terraform.tfvars.example terraform.tfvars      # project, region, Odoo URL
#   export TF_VAR_database_url='postgresql://runner:...@10.0.0.5:5432/odoo'
#   terraform init && terraform apply
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
  description = "Region of the functions and scheduler jobs, next to the database and Odoo."
}

variable "database_url" {
  type        = string
  description = "postgres:// URL of the Odoo database (stored in Secret Manager). Pass it as TF_VAR_database_url."
  sensitive   = true
}

variable "odoo_url" {
  type        = string
  description = "Base URL of Odoo, e.g. https://erp.example.com. null = web.base.url of the database."
  default     = null
}

variable "odoo_queue_job_channels" {
  type        = string
  description = "Channel capacities for the runner, e.g. \"root:2\". null = root:1."
  default     = null
}

module "queue_job_runner" {
  source = "../.."

  project_id              = var.project_id
  region                  = var.region
  enable_apis             = true
  database_url            = var.database_url
  odoo_url                = var.odoo_url
  odoo_queue_job_channels = var.odoo_queue_job_channels
}

output "function_urls" {
  description = "URLs of the tick, keepalive, dispatch and status functions."
  value       = module.queue_job_runner.function_urls
}

output "scheduler_jobs" {
  description = "Cloud Scheduler job names."
  value       = module.queue_job_runner.scheduler_jobs
}

output "runtime_service_account" {
  description = "Service account the functions run as."
  value       = module.queue_job_runner.runtime_service_account
}
