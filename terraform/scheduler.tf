# Cloud Scheduler drives the runner: the tick (two jobs, below), the keepalive every few minutes, and the
# cron-triggered manual runs. Each request carries an OIDC token for the scheduler account (iam.tf), whose
# audience is the function's URL; Cloud Run rejects anything else before the runner sees it.
#
# Scheduler delivers at least once and retries; that is harmless by construction (row-level claims: overlapping
# or repeated ticks never send a job twice). Each job's attempt_deadline is the timeout of the function it
# calls plus a margin, so Scheduler waits for the function's real answer (after the window, for the tick; a
# timeout answers 504 by itself) instead of giving up at the same instant and retrying a working tick.
#
# Why two tick jobs. Cloud Scheduler never runs two executions of one job at once ("execution n + 1 of a job
# will not begin until execution n has finished"), so one job every minute with a 55 s window leaves a few
# seconds each minute (the rest of the minute, plus the start of the next invocation) with no window open:
# a job committed then waits for the next tick's first pass. Two jobs, each every two minutes and one minute
# apart, each with a window longer than a minute (tick_window_seconds, 70 by default), overlap by a few
# seconds at every minute: some window is always open. Each job still never overlaps itself.

locals {
  scheduler_region = var.scheduler_region != null ? var.scheduler_region : var.region
  # Scheduler waits this much longer than the function's own timeout.
  scheduler_margin_seconds = 30
  # Minute fields of the two tick jobs: every two minutes, one minute apart.
  tick_jobs = {
    even = "0-58/2 * * * *"
    odd  = "1-59/2 * * * *"
  }
}

resource "google_cloud_scheduler_job" "tick" {
  for_each = local.tick_jobs

  project     = var.project_id
  region      = local.scheduler_region
  name        = "${var.name}-tick-${each.key}"
  description = "Every two minutes (${each.key} minutes): one tick of the queue_job runner (claim, dispatch, listen for ${var.tick_window_seconds} s); the other tick job covers the minutes between."
  schedule    = each.value
  time_zone   = "Etc/UTC"
  # > the function's timeout, itself > the window: the tick answers once its window is over and its
  # dispatches are settled.
  attempt_deadline = "${var.tick_timeout_seconds + local.scheduler_margin_seconds}s"

  # One quick retry covers a failed start; the other tick job starts a minute later anyway.
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
  attempt_deadline = "${local.functions.keepalive.timeout + local.scheduler_margin_seconds}s"

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
  attempt_deadline = "${local.functions.dispatch.timeout + local.scheduler_margin_seconds}s"

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
