# How each setting the runner reads (SETTINGS in shared/config.ts) reaches the functions. Every name there is
# decided in exactly one of the maps below: a plain environment value, a Secret Manager secret, or left unset
# on purpose. test/terraform.test.ts fails when the runner gains a setting that none of them names, when a
# secret setting shows up among the plain values, or when a plain value is taken from a sensitive variable.

locals {
  multi_target  = length(var.targets) > 0
  single_bridge = nonsensitive(var.odoo_bridge_token != null)

  # Plain environment of every function. null = not set: the runner's default applies.
  plain_settings = {
    # With targets, each target carries its own URL and db inside QUEUE_JOB_TARGETS.
    ODOO_URL                      = local.multi_target ? null : var.odoo_url
    ODOO_DB                       = local.multi_target ? null : var.odoo_db
    ODOO_QUEUE_JOB_CHANNELS       = var.odoo_queue_job_channels
    ODOO_QUEUE_JOB_HTTP_AUTH_USER = var.odoo_queue_job_http_auth_user
    DISPATCH_TIMEOUT_MS           = var.dispatch_timeout_ms == null ? null : tostring(var.dispatch_timeout_ms)
    ENQUEUED_TIMEOUT_SECONDS      = var.enqueued_timeout_seconds == null ? null : tostring(var.enqueued_timeout_seconds)
    ODOO_PGAPPNAME                = var.odoo_pgappname
    LOG_LEVEL                     = var.log_level
    KEEPALIVE_URLS                = length(var.keepalive_urls) == 0 ? null : join(",", var.keepalive_urls)
    # The functions are private (Cloud Run checks each caller's OIDC token and roles/run.invoker), so the
    # runner needs no bearer token of its own; without this it would refuse every request (open by default
    # is not an option it offers).
    RUNNER_ALLOW_UNAUTHENTICATED = "true"
    # Not a runner setting: keeps the functions framework's start-up banner out of the logs (malformed
    # requests are answered as JSON without a stack whatever NODE_ENV is: functions/intake.ts).
    NODE_ENV = "production"
  }

  # Only the tick keeps listening for a window; dispatch, keepalive and status make a single pass (the
  # runner's default window is 0) and must answer quickly.
  tick_settings = {
    TICK_WINDOW_SECONDS        = tostring(var.tick_window_seconds)
    BRIDGE_POLL_MS             = var.bridge_poll_ms == null ? null : tostring(var.bridge_poll_ms)
    TICK_TARGET_CONCURRENCY    = var.tick_target_concurrency == null ? null : tostring(var.tick_target_concurrency)
    MAX_CONNECTIONS_PER_SERVER = var.max_connections_per_server == null ? null : tostring(var.max_connections_per_server)
  }

  # Secret settings, and whether this deployment uses each. Their values (secrets.tf) are stored in Secret
  # Manager and reach the functions as secret_environment_variables only, never as environment_variables.
  secret_settings = {
    # One target reaches its database directly (DATABASE_URL) or through the companion Odoo addon
    # (ODOO_BRIDGE_TOKEN, with odoo_url): whether a token is given is not itself a secret.
    DATABASE_URL                      = !local.multi_target && !local.single_bridge
    ODOO_BRIDGE_TOKEN                 = !local.multi_target && local.single_bridge
    QUEUE_JOB_TARGETS                 = local.multi_target
    ODOO_QUEUE_JOB_HTTP_AUTH_PASSWORD = var.odoo_queue_job_http_auth_user != null
  }

  # Settings deliberately not set on Google Cloud, with the reason.
  unset_settings = {
    RUNNER_AUTH_TOKEN = "The functions are private: Cloud Run checks each caller's OIDC token and roles/run.invoker before the runner sees the request, so a shared bearer token adds nothing here (it protects the functions when they run outside Google Cloud)."
  }
}
