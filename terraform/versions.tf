terraform {
  # 1.5: startswith(), strcontains() and optional() object attributes with defaults.
  required_version = ">= 1.5.0"

  # No provider blocks in this module: as a root module the default `google` provider is used with
  # Application Default Credentials, and every resource names var.project_id and var.region itself; as a
  # child module it inherits the caller's provider (see examples/minimal).
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8.0"
    }
    archive = {
      source = "hashicorp/archive"
      # 2.5.0 made archive_file `excludes` glob patterns, which the .gcloudignore translation relies on.
      version = ">= 2.5.0, < 3.0.0"
    }
  }
}
