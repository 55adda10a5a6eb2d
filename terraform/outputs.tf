output "function_urls" {
  description = "URL of each function (tick, keepalive, dispatch, status). Callers need an identity token and roles/run.invoker."
  value       = { for key, function in google_cloudfunctions2_function.runner : key => function.service_config[0].uri }
}

output "function_names" {
  description = "Name of each function, as used by gcloud functions and gcloud run (same name)."
  value       = { for key, function in google_cloudfunctions2_function.runner : key => function.name }
}

output "runtime_service_account" {
  description = "Email of the service account the functions run as."
  value       = google_service_account.runtime.email
}

output "scheduler_service_account" {
  description = "Email of the service account in Cloud Scheduler's OIDC tokens, the only invoker of the scheduled functions."
  value       = google_service_account.scheduler.email
}

output "static_egress_ip" {
  description = "The address every connection of the functions comes from, to put on the database's (or Odoo's) allow-list. null when static_egress is off."
  value       = local.static_egress ? google_compute_address.egress[0].address : null
}

output "scheduler_jobs" {
  description = "Names of the Cloud Scheduler jobs (tick-even, tick-odd, keepalive, run-<name>), for gcloud scheduler jobs run."
  value = merge(
    { for key, job in google_cloud_scheduler_job.tick : "tick-${key}" => job.name },
    { for job in google_cloud_scheduler_job.keepalive : "keepalive" => job.name },
    { for key, job in google_cloud_scheduler_job.manual_run : "run-${key}" => job.name },
  )
}

output "scheduler_region" {
  description = "Region of the Cloud Scheduler jobs (--location for gcloud scheduler)."
  value       = local.scheduler_region
}

output "secret_ids" {
  description = "Secret Manager secret IDs by setting name (the IDs, not the values)."
  value       = { for setting, secret in google_secret_manager_secret.runtime : setting => secret.secret_id }
}

output "source_object" {
  description = "gs:// path of the source archive the functions were built from (its name carries the content hash)."
  value       = "gs://${google_storage_bucket_object.source.bucket}/${google_storage_bucket_object.source.name}"
}

output "uptime_check_ids" {
  description = "Uptime check IDs by target name."
  value       = { for key, check in google_monitoring_uptime_check_config.odoo_health : key => check.uptime_check_id }
}
