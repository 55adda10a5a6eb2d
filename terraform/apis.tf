# Optional: enable the APIs this module uses (enable_apis). They are never disabled on destroy: other
# workloads of the project may use them too.

locals {
  required_apis = concat(
    [
      "artifactregistry.googleapis.com", # images built from the source
      "cloudbuild.googleapis.com",       # builds the functions (npm ci, gcp-build)
      "cloudfunctions.googleapis.com",
      "cloudscheduler.googleapis.com",
      "iam.googleapis.com",
      "logging.googleapis.com",
      "monitoring.googleapis.com",
      "run.googleapis.com", # functions (2nd gen) are Cloud Run services
      "secretmanager.googleapis.com",
      "storage.googleapis.com",
    ],
    local.static_egress ? ["compute.googleapis.com", "vpcaccess.googleapis.com"] : [],
  )
}

resource "google_project_service" "required" {
  for_each = var.enable_apis ? toset(local.required_apis) : toset([])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
