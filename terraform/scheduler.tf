# Cloud Scheduler drives the runner: the tick every minute, the keepalive every few minutes, and the
# cron-triggered manual runs. Each request carries an OIDC token for the scheduler account (iam.tf), whose
# audience is the function's URL; Cloud Run rejects anything else before the runner sees it.
#
# Scheduler delivers at least once and retries; that is harmless by construction (row-level claims: overlapping
# or repeated ticks never send a job twice). Each job's attempt_deadline is the timeout of the function it
# calls, so Scheduler waits for the real answer (after the window, for the tick) instead of counting a
# working tick as failed and retrying it.

locals {
  scheduler_region = var.scheduler_region != null ? var.scheduler_region : var.region
}

resource "google_cloud_scheduler_job" "tick" {
  project     = var.project_id
  region      = local.scheduler_region
  name        = "${var.name}-tick"
  description = "Every minute: one tick of the queue_job runner (claim, dispatch, listen for ${var.tick_window_seconds} s)."
  schedule    = "* * * * *"
  time_zone   = "Etc/UTC"
  # >= the window: the tick answers once its window is over and its dispatches are settled.
  attempt_deadline = "${var.tick_timeout_seconds}s"

  # One quick retry covers a failed start; the next tick comes a minute later anyway.
  retry_config {
    retry_count          = 1
    min_backoff_duration = "5s"
    max_backoff_duration = "10s"
    max_doublings        = 1
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.runner["tick"].service_config[0].uri
    headers     = { "Content-Type" = "application/json" }
    body        = base64encode("{}")

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.runner["tick"].service_config[0].uri
    }
  }

  lifecycle {
    precondition {
      condition     = var.tick_timeout_seconds >= var.tick_window_seconds
      error_message = "The tick's attempt_deadline (tick_timeout_seconds) must be at least tick_window_seconds."
    }
  }

  depends_on = [google_cloud_run_service_iam_member.scheduler_invoker]
}

resource "google_cloud_scheduler_job" "keepalive" {
  count = var.keepalive_interval_minutes > 0 ? 1 : 0

  project          = var.project_id
  region           = local.scheduler_region
  name             = "${var.name}-keepalive"
  description      = "Every ${var.keepalive_interval_minutes} min: ping Odoo's /web/health so that its workers stay awake."
  schedule         = "*/${var.keepalive_interval_minutes} * * * *"
  time_zone        = "Etc/UTC"
  attempt_deadline = "${local.functions.keepalive.timeout}s"

  retry_config {
    retry_count          = 1
    min_backoff_duration = "10s"
    max_backoff_duration = "30s"
    max_doublings        = 1
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.runner["keepalive"].service_config[0].uri
    headers     = { "Content-Type" = "application/json" }
    body        = base64encode("{}")

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.runner["keepalive"].service_config[0].uri
    }
  }

  depends_on = [google_cloud_run_service_iam_member.scheduler_invoker]
}

resource "google_cloud_scheduler_job" "manual_run" {
  for_each = var.manual_runs

  project          = var.project_id
  region           = local.scheduler_region
  name             = "${var.name}-run-${each.key}"
  description      = each.value.description != null ? each.value.description : "Manual run ${each.key}: its body is POSTed to the dispatch function."
  schedule         = each.value.schedule
  time_zone        = each.value.time_zone
  attempt_deadline = "${local.functions.dispatch.timeout}s"

  # A repeated dispatch only claims what is still pending: retrying is safe.
  retry_config {
    retry_count          = each.value.retry_count
    min_backoff_duration = "30s"
    max_backoff_duration = "300s"
    max_doublings        = 3
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.runner["dispatch"].service_config[0].uri
    headers     = { "Content-Type" = "application/json" }
    body        = base64encode(each.value.body)

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.runner["dispatch"].service_config[0].uri
    }
  }

  depends_on = [google_cloud_run_service_iam_member.scheduler_invoker]
}
