# One Cloud Run function (2nd gen) per entry point of functions/index.ts, all from the same source archive.
#
# Sizing. Every function uses concurrency 1: below 1 vCPU Cloud Run allows nothing else, and the runner's
# work is one sequence per request anyway (open connections, claim, dispatch, answer). Parallel requests get
# their own instances, so max_instance_count is also the cap on the PostgreSQL connections each function can
# hold at once (per target: one listening connection plus the claim pass).
#
# - tick: called every minute (two scheduler jobs, each every two minutes), busy for the whole window (70 s
#   of each minute's start, so two instances for 10 s of each minute), so it is what the bill is made of
#   (README.md, cost). The work is I/O: LISTEN, short claim transactions, HTTP requests to Odoo; a third of a
#   vCPU is plenty, and 512Mi (the most allowed below 0.5 vCPU) leaves room for many targets and dispatch
#   bursts. Timeout 100 s > window 70 s: after the window the tick settles its dispatches and answers.
#   3 instances: the two tick jobs overlap a few seconds at each minute, plus one Scheduler retry.
# - keepalive: a few HTTP GETs to /web/health and an answer; the smallest size, 60 s for a sleeping Odoo
#   to wake up.
# - dispatch: one claim pass for named jobs or a channel, on demand (operators, manual_runs); sized like the
#   tick, 120 s for a large `limit`, 5 instances for several manual runs at the same minute.
# - status: read-only counts for operators and dashboards; small and short.

locals {
  functions = {
    tick = {
      description          = "queue_job runner: claims and dispatches runnable jobs, then listens for ${var.tick_window_seconds} s"
      cpu                  = var.tick_cpu
      memory               = var.tick_memory
      timeout              = var.tick_timeout_seconds
      max_instances        = var.tick_max_instances
      settings             = local.tick_settings
      invoked_by_scheduler = true
    }
    keepalive = {
      description          = "queue_job runner: pings Odoo's /web/health so that its workers stay awake"
      cpu                  = "0.167"
      memory               = "256Mi"
      timeout              = 60
      max_instances        = 2
      settings             = {}
      invoked_by_scheduler = true
    }
    dispatch = {
      description          = "queue_job runner: runs named jobs, or a channel's jobs, now"
      cpu                  = "0.333"
      memory               = "512Mi"
      timeout              = 120
      max_instances        = 5
      settings             = {}
      invoked_by_scheduler = true
    }
    status = {
      description          = "queue_job runner: job counts, capacity use, oldest pending job and next ETA per database and channel"
      cpu                  = "0.167"
      memory               = "256Mi"
      timeout              = 30
      max_instances        = 2
      settings             = {}
      invoked_by_scheduler = false
    }
  }
}

locals {
  # Not runner settings: memory sized to the instance rather than to the machine under it.
  # - The young generation gets 1 MB per semi-space (default 16 MB), so a busy window's short-lived
  #   garbage is scavenged early instead of filling 48 MB of young space.
  # - The old generation gets the instance's memory less 64 MB (the Cloud Run buildpack's own rule, made
  #   explicit): V8 sizes its first old-generation limit from that maximum, and from the host's memory
  #   without it.
  # - One V8 worker thread (--v8-pool-size=1) and two malloc arenas (MALLOC_ARENA_MAX=2): glibc gives each
  #   thread that allocates an arena of its own, and an instance of 1 vCPU or less has no use for a thread
  #   per host core.
  # Measured on the bench machine (24 GB, 2 cores; 20,000 jobs, root:200, no-work stand-in, one tick
  # window, the bundle): peak RSS 208 MB with Node's defaults (10,000 jobs, tsc build), 140 MB with the
  # semi-space at 2 MB alone, 107 MB with the old-space cap too (the same at --max-old-space-size 96 to
  # 1024; heap in use at its peak 75 -> 26 MB); with the bundle 104 MB; then 97.6-98.0 MB with all four
  # (three runs; each of pool size, arenas and semi-space alone 99.7-107 MB). Jobs/s and runner CPU
  # unchanged within the noise of the shared machine.
  node_options = {
    for name, f in local.functions :
    name => "--max-semi-space-size=1 --v8-pool-size=1 --max-old-space-size=${tonumber(regex("^[0-9]+", f.memory)) * (endswith(f.memory, "Gi") ? 1024 : 1) - 64}"
  }
}

resource "google_cloudfunctions2_function" "runner" {
  for_each = local.functions

  project     = var.project_id
  location    = var.region
  name        = "${var.name}-${each.key}"
  description = each.value.description
  labels      = local.labels

  build_config {
    runtime = "nodejs24"
    # The keys of local.functions are the functions-framework targets registered in functions/index.ts.
    entry_point     = each.key
    service_account = var.build_service_account

    source {
      storage_source {
        bucket = google_storage_bucket_object.source.bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_cpu                    = each.value.cpu
    available_memory                 = each.value.memory
    timeout_seconds                  = each.value.timeout
    max_instance_request_concurrency = 1
    min_instance_count               = 0
    max_instance_count               = each.value.max_instances
    service_account_email            = google_service_account.runtime.email
    ingress_settings                 = var.ingress_settings
    all_traffic_on_latest_revision   = true

    # With static egress every connection leaves through the NAT address, so one allow-list entry covers the
    # database and Odoo alike.
    vpc_connector                 = local.static_egress ? google_vpc_access_connector.egress[0].id : null
    vpc_connector_egress_settings = local.static_egress ? "ALL_TRAFFIC" : null

    environment_variables = { for setting, value in merge(local.plain_settings, each.value.settings, { NODE_OPTIONS = local.node_options[each.key], MALLOC_ARENA_MAX = "2" }) : setting => value if value != null }

    dynamic "secret_environment_variables" {
      for_each = local.secrets
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = google_secret_manager_secret.runtime[secret_environment_variables.key].secret_id
        version    = google_secret_manager_secret_version.runtime[secret_environment_variables.key].version
      }
    }
  }

  lifecycle {
    precondition {
      condition     = each.key != "tick" || each.value.timeout > var.tick_window_seconds
      error_message = "tick_timeout_seconds (${var.tick_timeout_seconds}) must exceed tick_window_seconds (${var.tick_window_seconds}): the tick answers after its window."
    }

    precondition {
      condition     = local.multi_target || ((var.database_url != null) != local.single_bridge)
      error_message = "Set database_url or odoo_bridge_token (one Odoo database, not both), or targets with target_secrets (several)."
    }

    precondition {
      condition     = local.multi_target || !local.single_bridge || var.odoo_url != null
      error_message = "odoo_bridge_token needs odoo_url: the runner reaches the database through that Odoo."
    }

    precondition {
      condition     = !local.multi_target || (var.database_url == null && var.odoo_bridge_token == null && var.odoo_url == null && var.odoo_db == null)
      error_message = "With targets, give each target its own odoo_url and db, and its database URL in target_secrets; leave database_url, odoo_url and odoo_db unset."
    }

    precondition {
      condition     = alltrue([for target in var.targets : (try(var.target_secrets[target.name].database_url, null) != null) != (try(var.target_secrets[target.name].bridge_token, null) != null)])
      error_message = "Every target needs an entry in target_secrets, under the target's name, with exactly one of database_url and bridge_token."
    }

    precondition {
      condition     = alltrue([for target in var.targets : try(var.target_secrets[target.name].bridge_token, null) == null || target.odoo_url != null])
      error_message = "A target with a bridge_token needs its odoo_url: the runner reaches its database through that Odoo."
    }

    precondition {
      condition     = length(setsubtract(nonsensitive(keys(var.target_secrets)), [for target in var.targets : target.name])) == 0
      error_message = "target_secrets has entries for targets that are not in targets: ${join(", ", setsubtract(nonsensitive(keys(var.target_secrets)), [for target in var.targets : target.name]))}."
    }
  }

  # The runtime account must be able to read its secrets before a revision can start.
  depends_on = [google_secret_manager_secret_iam_member.runtime]
}
