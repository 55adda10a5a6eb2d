# Two identities, each with the least it needs:
# - runtime: what the functions run as. It can read its own secrets (granted per secret, not on the project)
#   and nothing else; logs go through stdout, which needs no role.
# - scheduler: what Cloud Scheduler signs its OIDC tokens as. It alone is granted roles/run.invoker, on the
#   Cloud Run service under each function the scheduler calls. Nobody else is granted anything here: the
#   functions are never public. Operators call them with their own project roles (README.md).

resource "google_service_account" "runtime" {
  project      = var.project_id
  account_id   = "${var.name}-run"
  display_name = "${var.name} functions"
  description  = "Runs the queue_job runner functions; reads their own secrets only."

  depends_on = [google_project_service.required]
}

resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "${var.name}-sched"
  display_name = "${var.name} scheduler"
  description  = "Identity in the OIDC tokens Cloud Scheduler sends to the queue_job runner functions."

  depends_on = [google_project_service.required]
}

resource "google_secret_manager_secret_iam_member" "runtime" {
  for_each = local.secrets

  project   = var.project_id
  secret_id = google_secret_manager_secret.runtime[each.key].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.runtime.email}"
}

# Functions (2nd gen) are Cloud Run services of the same name: invocation is roles/run.invoker on the service.
# status is left out: no job calls it, it is for people and dashboards, which you grant yourself.
resource "google_cloud_run_service_iam_member" "scheduler_invoker" {
  for_each = { for key, function in local.functions : key => function if function.invoked_by_scheduler }

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.runner[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}
