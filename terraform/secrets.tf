# One Secret Manager secret per secret setting in use (settings.tf), readable by the runtime service account
# only (iam.tf). The values come from sensitive variables; Terraform keeps them in its state, so keep the state
# in a private backend (README.md).

locals {
  # The whole QUEUE_JOB_TARGETS list is one secret: it holds every target's database URL. Keys a target does
  # not set are left out rather than sent as null, which the runner's schema would reject.
  targets_json = jsonencode([
    for target in var.targets : merge(
      { name = target.name },
      # Exactly one way to the database: its URL, or the companion addon's token (through odoo_url).
      try(var.target_secrets[target.name].database_url, null) != null
      ? { databaseUrl = var.target_secrets[target.name].database_url }
      : { bridgeToken = try(var.target_secrets[target.name].bridge_token, null) },
      target.odoo_url == null ? {} : { odooUrl = target.odoo_url },
      target.db == null ? {} : { db = target.db },
      target.channels == null ? {} : { channels = target.channels },
      target.http_auth_user == null ? {} : {
        httpAuthUser     = target.http_auth_user
        httpAuthPassword = try(var.target_secrets[target.name].http_auth_password, null) == null ? "" : var.target_secrets[target.name].http_auth_password
      },
    )
  ])

  secret_values = {
    DATABASE_URL                      = var.database_url
    ODOO_BRIDGE_TOKEN                 = var.odoo_bridge_token
    QUEUE_JOB_TARGETS                 = local.targets_json
    ODOO_QUEUE_JOB_HTTP_AUTH_PASSWORD = var.odoo_queue_job_http_auth_password
  }

  # Setting name => secret ID, for the secret settings this deployment uses. Built from non-sensitive inputs
  # only, so that it can drive for_each.
  secrets = {
    for setting, used in local.secret_settings : setting => "${var.name}-${lower(replace(setting, "_", "-"))}" if used
  }
}

resource "google_secret_manager_secret" "runtime" {
  for_each = local.secrets

  project   = var.project_id
  secret_id = each.value
  labels    = local.labels

  replication {
    dynamic "auto" {
      for_each = length(var.secret_locations) == 0 ? [1] : []
      content {}
    }

    dynamic "user_managed" {
      for_each = length(var.secret_locations) == 0 ? [] : [1]
      content {
        dynamic "replicas" {
          for_each = var.secret_locations
          content {
            location = replicas.value
          }
        }
      }
    }
  }

  depends_on = [google_project_service.required]
}

# A changed value is a new version; the functions name the version number (functions.tf), so the change
# rolls out as a new revision instead of waiting for instances to restart.
resource "google_secret_manager_secret_version" "runtime" {
  for_each = local.secrets

  secret      = google_secret_manager_secret.runtime[each.key].id
  secret_data = local.secret_values[each.key]

  lifecycle {
    precondition {
      condition     = local.secret_values[each.key] != null
      error_message = "No value for ${each.key}: set database_url or odoo_bridge_token (one target), odoo_queue_job_http_auth_password (with odoo_queue_job_http_auth_user), or targets with target_secrets."
    }
  }
}
