# The functions are built from this checkout, packaged by Terraform: no manual build or upload step.
# What is left out comes from the repository's .gcloudignore, the same list `gcloud functions deploy` uses,
# so the two ways to deploy upload the same files: package.json, package-lock.json, tsconfig*.json,
# functions/ and shared/. Cloud Build then runs `npm ci` and the `gcp-build` script (`npm run build`: tsc, then the esbuild
# bundle dist/bundle/functions.mjs that package.json `main` names).

locals {
  source_dir = var.source_dir != null ? var.source_dir : "${path.module}/.."
}

module "gcloudignore" {
  source = "./modules/gcloudignore"

  gcloudignore = file("${local.source_dir}/.gcloudignore")
}

data "archive_file" "source" {
  type        = "zip"
  source_dir  = local.source_dir
  excludes    = module.gcloudignore.excludes
  output_path = "${path.module}/.build/queue-job-runner-source.zip"
  # Fixed modes: the same checkout gives the same archive, hence the same hash, on every machine.
  output_file_mode = "0644"

  lifecycle {
    precondition {
      condition     = length(module.gcloudignore.unsupported) == 0
      error_message = ".gcloudignore has lines archive_file cannot reproduce (negations or #!include:): ${join(", ", module.gcloudignore.unsupported)}. Use plain exclusions."
    }

    # Tests, benchmarks and dev tooling do not belong in the function, and terraform/ may hold local state
    # (secrets in plain text) and this archive itself.
    precondition {
      condition = alltrue([
        for dir in ["test", "terraform", "bench", "dev", "node_modules", "dist", ".git"] :
        contains(module.gcloudignore.excludes, "**/${dir}") || contains(module.gcloudignore.excludes, dir)
      ])
      error_message = ".gcloudignore must exclude test/, terraform/, bench/, dev/, node_modules/, dist/ and .git/."
    }
  }
}

resource "google_storage_bucket" "source" {
  count = var.source_bucket == null ? 1 : 0

  project                     = var.project_id
  name                        = "${var.project_id}-${var.name}-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Holds nothing but source archives, all reproducible from the checkout.
  force_destroy = true
  labels        = local.labels

  depends_on = [google_project_service.required]
}

resource "google_storage_bucket_object" "source" {
  bucket = var.source_bucket != null ? var.source_bucket : google_storage_bucket.source[0].name
  # The content hash is in the name: a changed checkout is a new object, which every function references,
  # so `terraform apply` after a `git pull` rebuilds and redeploys them; an unchanged one changes nothing.
  name         = "${var.name}/source-${data.archive_file.source.output_md5}.zip"
  source       = data.archive_file.source.output_path
  content_type = "application/zip"
}
