# Cloud Monitoring watches Odoo from outside: one uptime check on /web/health per target whose URL is known
# (odoo_url, or each target's odoo_url; a target that relies on web.base.url has none). Besides alerting,
# a check every minute keeps an idle Odoo's workers awake, next to the keepalive function.
# Behind basic auth (odoo_queue_job_http_auth_user, or a target's http_auth_user) the check sends the same
# credentials the runner sends: without them it would get 401 and the alert would fire forever.
# With enable_alerts, two alert policies: Odoo's health check failing, and the scheduled functions
# answering 5xx (the runner failed, or ran past its timeout).

locals {
  odoo_urls = local.multi_target ? {
    for target in var.targets : target.name => target.odoo_url if target.odoo_url != null
  } : (var.odoo_url == null ? {} : { default = var.odoo_url })

  # Basic-auth user per checked target: its own, else the single-target variables' (as the runner does).
  odoo_auth_users = local.multi_target ? {
    for target in var.targets : target.name => (target.http_auth_user != null ? target.http_auth_user : var.odoo_queue_job_http_auth_user)
  } : { default = var.odoo_queue_job_http_auth_user }
  odoo_auth_passwords = local.multi_target ? {
    for target in var.targets : target.name => (
      target.http_auth_user != null ? try(var.target_secrets[target.name].http_auth_password, "") : var.odoo_queue_job_http_auth_password
    )
  } : { default = var.odoo_queue_job_http_auth_password }

  health_checks = {
    for name, url in local.odoo_urls : name => {
      auth_user = lookup(local.odoo_auth_users, name, null)
      use_ssl   = startswith(lower(url), "https://")
      host      = regex("^[A-Za-z]+://([^/:?#]+)", url)[0]
      port      = try(tonumber(regex("^[A-Za-z]+://[^/:?#]+:([0-9]+)", url)[0]), startswith(lower(url), "https://") ? 443 : 80)
      # Odoo served under a path prefix keeps it: https://host/odoo -> /odoo/web/health.
      path = "${trimsuffix(try(regex("^[A-Za-z]+://[^/?#]+(/[^?#]*)", url)[0], ""), "/")}/web/health"
    }
  }
}

resource "google_monitoring_uptime_check_config" "odoo_health" {
  for_each = local.health_checks

  project          = var.project_id
  display_name     = "${var.name} Odoo health (${each.key})"
  period           = var.uptime_check_period
  timeout          = "10s"
  selected_regions = var.uptime_check_regions

  http_check {
    request_method = "GET"
    path           = each.value.path
    port           = each.value.port
    use_ssl        = each.value.use_ssl
    validate_ssl   = each.value.use_ssl

    dynamic "auth_info" {
      for_each = each.value.auth_user == null ? [] : [each.value.auth_user]
      content {
        username = auth_info.value
        password = coalesce(local.odoo_auth_passwords[each.key], "")
      }
    }
  }

  monitored_resource {
    type = "uptime_url"
    labels = {
      project_id = var.project_id
      host       = each.value.host
    }
  }

  depends_on = [google_project_service.required]
}

resource "google_monitoring_alert_policy" "odoo_health" {
  count = var.enable_alerts && length(local.health_checks) > 0 ? 1 : 0

  project               = var.project_id
  display_name          = "${var.name}: Odoo /web/health failing"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels
  user_labels           = local.labels

  dynamic "conditions" {
    for_each = google_monitoring_uptime_check_config.odoo_health
    content {
      display_name = "Odoo ${conditions.key}: /web/health fails from more than one checker region"

      condition_threshold {
        filter          = "metric.type=\"monitoring.googleapis.com/uptime_check/check_passed\" AND resource.type=\"uptime_url\" AND metric.label.check_id=\"${conditions.value.uptime_check_id}\""
        comparison      = "COMPARISON_GT"
        threshold_value = 1
        duration        = "60s"

        aggregations {
          alignment_period     = "1200s"
          per_series_aligner   = "ALIGN_NEXT_OLDER"
          cross_series_reducer = "REDUCE_COUNT_FALSE"
          group_by_fields      = ["resource.label.*"]
        }

        trigger {
          count = 1
        }
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Odoo does not answer /web/health. While it is down the runner cannot dispatch: claimed jobs go back to pending and wait. Check Odoo first, then the logs of ${var.name}-tick."
  }
}

resource "google_monitoring_alert_policy" "runner_errors" {
  count = var.enable_alerts ? 1 : 0

  project               = var.project_id
  display_name          = "${var.name}: runner functions failing"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels
  user_labels           = local.labels

  dynamic "conditions" {
    for_each = { for key, function in local.functions : key => function if function.invoked_by_scheduler }
    content {
      display_name = "${google_cloudfunctions2_function.runner[conditions.key].name}: more than 2 responses 5xx in 10 min"

      condition_threshold {
        filter          = "resource.type=\"cloud_run_revision\" AND resource.label.service_name=\"${google_cloudfunctions2_function.runner[conditions.key].name}\" AND metric.type=\"run.googleapis.com/request_count\" AND metric.label.response_code_class=\"5xx\""
        comparison      = "COMPARISON_GT"
        threshold_value = 2
        duration        = "0s"

        aggregations {
          alignment_period     = "600s"
          per_series_aligner   = "ALIGN_SUM"
          cross_series_reducer = "REDUCE_SUM"
          group_by_fields      = ["resource.label.service_name"]
        }

        trigger {
          count = 1
        }
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A queue_job runner function keeps failing or timing out. Read its logs: gcloud functions logs read <function> --region ${var.region} --limit 50. A configuration error names the setting at fault."
  }
}
