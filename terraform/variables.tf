# ----------------------------------------------------------------------------------------------------------
# Project and naming
# ----------------------------------------------------------------------------------------------------------

variable "project_id" {
  type        = string
  description = "Google Cloud project that receives every resource of this module."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 lowercase letters, digits or dashes), not a project name or number."
  }
}

variable "region" {
  type        = string
  description = "Region of the functions, the scheduler jobs, the source bucket and the optional egress network, e.g. europe-west1. Put it next to the database and Odoo: every claim is a round trip."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1 or us-central1 (not a zone)."
  }
}

variable "name" {
  type        = string
  description = "Prefix of every resource name (functions, service accounts, secrets, scheduler jobs, network). Change it to deploy a second, independent runner in the same project."
  default     = "queue-job-runner"
  nullable    = false

  validation {
    # 19 characters keeps the derived names inside Google's limits: "<name>-sched" (service account IDs, 30),
    # "<name>-vpc" (VPC connectors, 25).
    condition     = can(regex("^[a-z][a-z0-9-]{2,17}[a-z0-9]$", var.name))
    error_message = "name must be 4-19 lowercase letters, digits or dashes, start with a letter and not end with a dash."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels added to every resource that supports them."
  default     = {}
  nullable    = false
}

variable "enable_apis" {
  type        = bool
  description = "Enable the Google Cloud APIs the module needs (google_project_service, never disabled on destroy). Leave false when the project is prepared by someone else; README.md lists the gcloud command."
  default     = false
  nullable    = false
}

# ----------------------------------------------------------------------------------------------------------
# Source and build
# ----------------------------------------------------------------------------------------------------------

variable "source_dir" {
  type        = string
  description = "Checkout of queue-job-runner to package (its .gcloudignore decides what is left out). null = the repository this module sits in."
  default     = null
}

variable "source_bucket" {
  type        = string
  description = "Existing bucket for the source archive. null = create \"<project_id>-<name>-source\" (private, uniform access)."
  default     = null
}

variable "build_service_account" {
  type        = string
  description = "Service account Cloud Build uses to build the functions, as projects/<project>/serviceAccounts/<email>. null = the project's default build account."
  default     = null

  validation {
    condition     = var.build_service_account == null ? true : can(regex("^projects/[^/]+/serviceAccounts/[^/@]+@[^/@]+\\.iam\\.gserviceaccount\\.com$", var.build_service_account)) || can(regex("^projects/[^/]+/serviceAccounts/[0-9]+-compute@developer\\.gserviceaccount\\.com$", var.build_service_account))
    error_message = "build_service_account must be projects/<project>/serviceAccounts/<email>, e.g. projects/my-project/serviceAccounts/builder@my-project.iam.gserviceaccount.com (a bare email is refused by the API)."
  }
}

# ----------------------------------------------------------------------------------------------------------
# One Odoo database (ignored when `targets` is set)
# ----------------------------------------------------------------------------------------------------------

variable "database_url" {
  type        = string
  description = "DATABASE_URL: postgres:// URL of the Odoo database, password included. Stored in Secret Manager. Required unless `targets` is set. Prefer TF_VAR_database_url to a .tfvars file."
  default     = null
  sensitive   = true

  validation {
    condition     = var.database_url == null ? true : can(regex("^postgres(ql)?://[^/]+/[^/?#]+", var.database_url))
    error_message = "database_url must be a postgres:// or postgresql:// URL that names a database."
  }
}

variable "odoo_bridge_token" {
  type        = string
  description = "ODOO_BRIDGE_TOKEN: token of the companion Odoo addon (odoo/queue_job_runner_bridge), for a database the functions cannot reach, such as Odoo.sh: the runner then claims through Odoo over HTTPS and needs odoo_url, no database_url and no VPC egress. Stored in Secret Manager; Odoo keeps only its SHA-256 (system parameter queue_job_runner_bridge.token_sha256). At least 32 characters. Prefer TF_VAR_odoo_bridge_token."
  default     = null
  sensitive   = true

  validation {
    condition     = var.odoo_bridge_token == null ? true : length(var.odoo_bridge_token) >= 32
    error_message = "odoo_bridge_token must be at least 32 characters (the addon refuses shorter tokens), e.g. from: openssl rand -hex 32."
  }
}

variable "odoo_url" {
  type        = string
  description = "ODOO_URL: base URL where /queue_job/runjob and /web/health answer. null = web.base.url of the database, read at each tick (no uptime check is created then)."
  default     = null

  validation {
    condition     = var.odoo_url == null ? true : can(regex("^https?://[^/?#]+", var.odoo_url))
    error_message = "odoo_url must be an http:// or https:// URL."
  }
}

variable "odoo_db" {
  type        = string
  description = "ODOO_DB: the db= parameter sent to Odoo. null = the database name in database_url."
  default     = null
}

# ----------------------------------------------------------------------------------------------------------
# Several Odoo databases (QUEUE_JOB_TARGETS)
# ----------------------------------------------------------------------------------------------------------

variable "targets" {
  type = list(object({
    name           = string
    odoo_url       = optional(string)
    db             = optional(string)
    channels       = optional(string)
    http_auth_user = optional(string)
  }))
  description = "Several Odoo databases served by one runner (QUEUE_JOB_TARGETS). Only the non-secret fields go here; each target's database URL (and basic-auth password) goes in target_secrets under the same name, and the whole JSON list is stored as one secret. Empty = one target from database_url, odoo_url, odoo_db."
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for target in var.targets : can(regex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", target.name))])
    error_message = "Each target name must be 1-63 letters, digits, dot, dash or underscore."
  }

  validation {
    condition     = length(distinct([for target in var.targets : target.name])) == length(var.targets)
    error_message = "Target names must be unique."
  }

  validation {
    condition     = alltrue([for target in var.targets : target.odoo_url == null ? true : can(regex("^https?://[^/?#]+", target.odoo_url))])
    error_message = "Each target odoo_url must be an http:// or https:// URL."
  }
}

variable "target_secrets" {
  type = map(object({
    database_url       = optional(string)
    bridge_token       = optional(string)
    http_auth_password = optional(string)
  }))
  description = "Secret half of `targets`, keyed by target name: exactly one of database_url (postgres:// URL) and bridge_token (the companion Odoo addon's token, for a target such as an Odoo.sh build, which then needs odoo_url) and, when the target has http_auth_user, http_auth_password."
  default     = {}
  nullable    = false
  sensitive   = true
}

# ----------------------------------------------------------------------------------------------------------
# Runner settings (same names as the environment variables of shared/config.ts, lower case)
# ----------------------------------------------------------------------------------------------------------

variable "odoo_queue_job_channels" {
  type        = string
  description = "ODOO_QUEUE_JOB_CHANNELS of the runner: channel capacities, upstream grammar, e.g. \"root:4,root.nightly:1\". With targets, the default of targets without their own channels. null = the runner's default (root:1). Not to be confused with Odoo's own ODOO_QUEUE_JOB_CHANNELS=root:0, which switches off the built-in runner."
  default     = null
}

variable "odoo_queue_job_http_auth_user" {
  type        = string
  description = "ODOO_QUEUE_JOB_HTTP_AUTH_USER: basic-auth user in front of Odoo. With targets, the default of targets without their own credentials. null = no basic auth."
  default     = null
}

variable "odoo_queue_job_http_auth_password" {
  type        = string
  description = "ODOO_QUEUE_JOB_HTTP_AUTH_PASSWORD: basic-auth password, stored in Secret Manager. Required when odoo_queue_job_http_auth_user is set."
  default     = null
  sensitive   = true
}

variable "tick_window_seconds" {
  type        = number
  description = "TICK_WINDOW_SECONDS: how long each tick keeps listening after its first pass. Two tick jobs run, each every two minutes, one minute apart (scheduler.tf): a window over 60 s overlaps the other job's next window, so one is always open; 70 leaves 10 s for the next invocation to start. 0 = one pass a minute (pickup latency up to a minute, almost no cost)."
  default     = 70
  nullable    = false

  validation {
    condition     = var.tick_window_seconds >= 0 && var.tick_window_seconds <= 110 && floor(var.tick_window_seconds) == var.tick_window_seconds
    error_message = "tick_window_seconds must be a whole number from 0 to 110: each tick job starts every two minutes and must be done (window, then settling) before its next start."
  }
}

variable "bridge_poll_ms" {
  type        = number
  description = "BRIDGE_POLL_MS: how often a bridge target's window passes (it cannot LISTEN through Odoo). null = the runner's default (1000)."
  default     = null

  validation {
    condition     = var.bridge_poll_ms == null ? true : var.bridge_poll_ms >= 100 && var.bridge_poll_ms <= 60000 && floor(var.bridge_poll_ms) == var.bridge_poll_ms
    error_message = "bridge_poll_ms must be a whole number from 100 to 60000."
  }
}

variable "tick_target_concurrency" {
  type        = number
  description = "TICK_TARGET_CONCURRENCY: how many targets one tick serves at once. A tick gives windows only when all its targets fit at once (README.md, \"Many databases\"). null = the runner's default (32)."
  default     = null

  validation {
    condition     = var.tick_target_concurrency == null ? true : var.tick_target_concurrency >= 1 && var.tick_target_concurrency <= 1000 && floor(var.tick_target_concurrency) == var.tick_target_concurrency
    error_message = "tick_target_concurrency must be a whole number from 1 to 1000."
  }
}

variable "max_connections_per_server" {
  type        = number
  description = "MAX_CONNECTIONS_PER_SERVER: most connections one tick opens to one database server (host:port), all its targets together; a target counts as 4, 5 in a window. null = the runner's default (50)."
  default     = null

  validation {
    condition     = var.max_connections_per_server == null ? true : var.max_connections_per_server >= 5 && var.max_connections_per_server <= 100000 && floor(var.max_connections_per_server) == var.max_connections_per_server
    error_message = "max_connections_per_server must be a whole number from 5 to 100000 (a target in a window holds up to 5)."
  }
}

variable "dispatch_timeout_ms" {
  type        = number
  description = "DISPATCH_TIMEOUT_MS: how long to wait for Odoo's response head. null = the runner's default (1000)."
  default     = null

  validation {
    condition     = var.dispatch_timeout_ms == null ? true : var.dispatch_timeout_ms >= 50 && var.dispatch_timeout_ms <= 60000
    error_message = "dispatch_timeout_ms must be between 50 and 60000."
  }
}

variable "enqueued_timeout_seconds" {
  type        = number
  description = "ENQUEUED_TIMEOUT_SECONDS: when an enqueued job counts as lost and goes back to pending. null = the runner's default (60)."
  default     = null

  validation {
    condition     = var.enqueued_timeout_seconds == null ? true : var.enqueued_timeout_seconds >= 5 && var.enqueued_timeout_seconds <= 86400
    error_message = "enqueued_timeout_seconds must be between 5 and 86400."
  }
}

variable "odoo_pgappname" {
  type        = string
  description = "ODOO_PGAPPNAME: Odoo's PostgreSQL application_name pattern, {pid} = worker pid, used to tell whether a started job's worker is alive. null = the runner's default (odoo-{pid})."
  default     = null

  validation {
    condition     = var.odoo_pgappname == null ? true : strcontains(var.odoo_pgappname, "{pid}")
    error_message = "odoo_pgappname must contain {pid}."
  }
}

variable "log_level" {
  type        = string
  description = "LOG_LEVEL of the functions: debug, info, warning or error."
  default     = "info"
  nullable    = false

  validation {
    condition     = contains(["debug", "info", "warning", "error"], var.log_level)
    error_message = "log_level must be debug, info, warning or error."
  }
}

variable "keepalive_urls" {
  type        = list(string)
  description = "KEEPALIVE_URLS: URLs the keepalive function pings. Empty = each target's <odoo_url>/web/health."
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for url in var.keepalive_urls : can(regex("^https?://[^/?#]+", url))])
    error_message = "Each keepalive URL must be an http:// or https:// URL."
  }
}

# ----------------------------------------------------------------------------------------------------------
# Function sizing (the tick is the only function that runs most of the time, hence the only one to tune)
# ----------------------------------------------------------------------------------------------------------

variable "tick_timeout_seconds" {
  type        = number
  description = "Timeout of the tick function; its scheduler jobs wait 30 s longer. Must exceed tick_window_seconds: after the window the tick settles its dispatches and answers."
  default     = 100
  nullable    = false

  validation {
    # Cloud Scheduler's attempt deadline for HTTP targets is 15 s to 30 min; it is this timeout + 30 s.
    condition     = var.tick_timeout_seconds >= 15 && var.tick_timeout_seconds <= 1770 && floor(var.tick_timeout_seconds) == var.tick_timeout_seconds
    error_message = "tick_timeout_seconds must be a whole number from 15 to 1770 (Cloud Scheduler's attempt deadline, this + 30 s, is at most 30 min)."
  }
}

variable "tick_cpu" {
  type        = string
  description = "vCPU of the tick function: 0.08 to 1 in steps of 0.001, or 1, 2, 4, 6 or 8. Below 1 vCPU Cloud Run requires concurrency 1 (which the module uses), at least 0.5 vCPU for more than 512Mi and 1 vCPU for more than 1Gi."
  default     = "0.333"
  nullable    = false

  validation {
    condition     = can(tonumber(var.tick_cpu)) ? (tonumber(var.tick_cpu) >= 0.08 && tonumber(var.tick_cpu) < 1 && floor(tonumber(var.tick_cpu) * 1000) == tonumber(var.tick_cpu) * 1000) || contains([1, 2, 4, 6, 8], tonumber(var.tick_cpu)) : false
    error_message = "tick_cpu must be a number of vCPUs as a string: 0.08 to 1 in steps of 0.001 (\"0.333\"), or 1, 2, 4, 6 or 8 (Cloud Run takes whole numbers above 1)."
  }
}

variable "tick_memory" {
  type        = string
  description = "Memory of the tick function (Kubernetes quantity: 256Mi, 512Mi, 1Gi), 128Mi to 32Gi. Cloud Run needs at least 0.5 vCPU (tick_cpu) above 512Mi, 1 above 1Gi, 2 above 4Gi, 4 above 8Gi, 6 above 16Gi and 8 above 24Gi; 4 vCPU need at least 2Gi, 6 and 8 vCPU at least 4Gi."
  default     = "512Mi"
  nullable    = false

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.tick_memory))
    error_message = "tick_memory must be a quantity in Mi or Gi, e.g. 512Mi."
  }

  validation {
    condition     = !can(regex("^[0-9]+(Mi|Gi)$", var.tick_memory)) || (tonumber(regex("^[0-9]+", var.tick_memory)) * (endswith(var.tick_memory, "Gi") ? 1024 : 1) >= 128 && tonumber(regex("^[0-9]+", var.tick_memory)) * (endswith(var.tick_memory, "Gi") ? 1024 : 1) <= 32768)
    error_message = "tick_memory must be between 128Mi and 32Gi (Cloud Run's limits)."
  }
}

variable "tick_max_instances" {
  type        = number
  description = "Maximum instances of the tick function. Each instance holds its own database connections, so this also caps the connections the tick can open."
  default     = 3
  nullable    = false

  validation {
    condition     = var.tick_max_instances >= 2 && var.tick_max_instances <= 20 && floor(var.tick_max_instances) == var.tick_max_instances
    error_message = "tick_max_instances must be a whole number from 2 (the two tick jobs overlap a few seconds each minute) to 20."
  }
}

variable "ingress_settings" {
  type        = string
  description = "Ingress of the functions. ALLOW_ALL keeps them reachable by Cloud Scheduler and by operators (gcloud/curl); access is still decided by IAM, never public."
  default     = "ALLOW_ALL"
  nullable    = false

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.ingress_settings)
    error_message = "ingress_settings must be ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

# ----------------------------------------------------------------------------------------------------------
# Scheduling
# ----------------------------------------------------------------------------------------------------------

variable "scheduler_region" {
  type        = string
  description = "Region of the Cloud Scheduler jobs when Cloud Scheduler is not offered in `region`. null = region."
  default     = null
}

variable "keepalive_interval_minutes" {
  type        = number
  description = "Run the keepalive function every N minutes, so that Odoo's HTTP workers do not fall asleep. 0 = no keepalive job."
  default     = 5
  nullable    = false

  validation {
    condition     = var.keepalive_interval_minutes >= 0 && var.keepalive_interval_minutes <= 59 && floor(var.keepalive_interval_minutes) == var.keepalive_interval_minutes
    error_message = "keepalive_interval_minutes must be a whole number from 0 (disabled) to 59."
  }
}

variable "manual_runs" {
  type = map(object({
    schedule    = string
    body        = string
    time_zone   = optional(string, "Etc/UTC")
    description = optional(string)
    retry_count = optional(number, 1)
  }))
  description = "Cron-triggered manual runs: each entry is a Cloud Scheduler job that POSTs `body` (JSON, e.g. jsonencode({ channel = \"root.nightly\", limit = 50 }) or jsonencode({ uuids = [...] })) to the dispatch function on `schedule` (cron) in `time_zone`. Keys name the jobs."
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for key in keys(var.manual_runs) : can(regex("^[a-z0-9][a-z0-9-]{0,39}$", key))])
    error_message = "manual_runs keys must be 1-40 lowercase letters, digits or dashes."
  }

  validation {
    condition     = alltrue([for run in values(var.manual_runs) : can(keys(jsondecode(run.body)))])
    error_message = "Each manual run body must be a JSON object, e.g. jsonencode({ channel = \"root.nightly\", limit = 50 })."
  }

  validation {
    condition     = alltrue([for run in values(var.manual_runs) : length(split(" ", trimspace(run.schedule))) == 5])
    error_message = "Each manual run schedule must be a 5-field cron expression, e.g. \"0 2 * * *\"."
  }

  validation {
    condition     = alltrue([for run in values(var.manual_runs) : run.retry_count >= 0 && run.retry_count <= 5])
    error_message = "retry_count must be between 0 and 5 (Cloud Scheduler's limit)."
  }
}

# ----------------------------------------------------------------------------------------------------------
# Secrets
# ----------------------------------------------------------------------------------------------------------

variable "secret_locations" {
  type        = list(string)
  description = "Regions where Secret Manager keeps the secrets (user-managed replication), e.g. [\"europe-west1\"] to keep database credentials in the EU. Empty = automatic replication."
  default     = []
  nullable    = false
}

# ----------------------------------------------------------------------------------------------------------
# Monitoring
# ----------------------------------------------------------------------------------------------------------

variable "uptime_check_period" {
  type        = string
  description = "How often Cloud Monitoring fetches each Odoo target's /web/health (one uptime check per target with a known odoo_url). 60s also keeps Odoo's workers awake from outside."
  default     = "60s"
  nullable    = false

  validation {
    condition     = contains(["60s", "300s", "600s", "900s"], var.uptime_check_period)
    error_message = "uptime_check_period must be 60s, 300s, 600s or 900s."
  }
}

variable "uptime_check_regions" {
  type        = list(string)
  description = "Checker regions of the uptime checks: USA, EUROPE, SOUTH_AMERICA, ASIA_PACIFIC, USA_OREGON, USA_IOWA, USA_VIRGINIA. The API wants at least 3 checker locations, and USA is three (Oregon, Iowa, Virginia): [\"USA\"] alone is enough, [\"EUROPE\", \"USA_IOWA\"] is not. Empty = all, which costs the most executions."
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for region in var.uptime_check_regions : contains(["USA", "EUROPE", "SOUTH_AMERICA", "ASIA_PACIFIC", "USA_OREGON", "USA_IOWA", "USA_VIRGINIA"], region)])
    error_message = "uptime_check_regions may hold only USA, EUROPE, SOUTH_AMERICA, ASIA_PACIFIC, USA_OREGON, USA_IOWA and USA_VIRGINIA."
  }

  validation {
    # Locations as the API counts them: USA stands for its three.
    condition = length(var.uptime_check_regions) == 0 || length(distinct(flatten([
      for region in var.uptime_check_regions : region == "USA" ? ["USA_OREGON", "USA_IOWA", "USA_VIRGINIA"] : [region]
    ]))) >= 3
    error_message = "uptime_check_regions must be empty (all regions) or cover at least 3 checker locations (USA counts as 3: Oregon, Iowa, Virginia)."
  }
}

variable "enable_alerts" {
  type        = bool
  description = "Create alert policies: Odoo's /web/health failing, and the tick, keepalive or dispatch functions answering 5xx (failures, timeouts)."
  default     = false
  nullable    = false
}

variable "alert_notification_channels" {
  type        = list(string)
  description = "Notification channels (projects/<project>/notificationChannels/<id>) the alert policies notify. Empty = incidents show in the console only."
  default     = []
  nullable    = false
}

# ----------------------------------------------------------------------------------------------------------
# Optional static egress
# ----------------------------------------------------------------------------------------------------------

variable "static_egress" {
  type = object({
    enabled        = bool
    network        = optional(string)
    connector_cidr = optional(string, "10.8.0.0/28")
    machine_type   = optional(string, "e2-micro")
    min_instances  = optional(number, 2)
    max_instances  = optional(number, 3)
  })
  description = "Route all egress of the functions through a Serverless VPC Access connector and Cloud NAT with one reserved address, for databases (or Odoo) behind an IP allow-list. network = an existing VPC (e.g. the one peered with Cloud SQL private IP), null = a dedicated one; connector_cidr = an unused /28 for the connector's subnet."
  default     = { enabled = false }
  nullable    = false

  validation {
    condition     = can(cidrhost(var.static_egress.connector_cidr, 0)) && endswith(var.static_egress.connector_cidr, "/28")
    error_message = "static_egress.connector_cidr must be an IPv4 /28 range (a Serverless VPC Access requirement)."
  }

  validation {
    condition     = var.static_egress.min_instances >= 2 && var.static_egress.max_instances > var.static_egress.min_instances && var.static_egress.max_instances <= 10
    error_message = "static_egress needs 2 <= min_instances < max_instances <= 10 (Serverless VPC Access limits)."
  }
}
