# Translates a .gcloudignore (gitignore syntax) into archive_file `excludes` (doublestar globs, matched
# against paths relative to the archive root; a matching directory is skipped whole). Kept apart and free of
# providers so that test/terraform.test.ts can evaluate it with Terraform itself.
#
#   name/ or name  (no inner slash)  matches at any depth   ->  **/name
#   /name                            anchored to the root   ->  name
#   dir/name       (inner slash)     anchored to the root   ->  dir/name
#
# A trailing slash (directories only) is dropped: a file with such a name is excluded too, which only ever
# excludes more than gcloud. Negations (!) and #!include: lines have no equivalent; `valid` reports them.

variable "gcloudignore" {
  type        = string
  description = "Content of the .gcloudignore file."
}

locals {
  lines    = [for line in split("\n", replace(var.gcloudignore, "\r", "")) : trimspace(line)]
  patterns = [for line in local.lines : line if line != "" && !startswith(line, "#")]

  excludes = distinct([
    for pattern in local.patterns : (
      startswith(pattern, "/") ? trimprefix(trimsuffix(pattern, "/"), "/") :
      strcontains(trimsuffix(pattern, "/"), "/") ? trimsuffix(pattern, "/") :
      "**/${trimsuffix(pattern, "/")}"
    )
  ])

  unsupported = concat(
    [for pattern in local.patterns : pattern if startswith(pattern, "!")],
    [for line in local.lines : line if startswith(line, "#!include:")],
  )
}

output "excludes" {
  description = "Glob patterns for archive_file `excludes`."
  value       = local.excludes
}

output "unsupported" {
  description = "Lines archive_file cannot reproduce (negations, #!include:); must be empty."
  value       = local.unsupported
}
