# Optional static egress, for a database (or an Odoo) that only accepts connections from listed addresses:
# the functions send all their traffic through a Serverless VPC Access connector, and Cloud NAT gives it one
# reserved external address, to put on the allow-list (output static_egress_ip).
#
#   function --(ALL_TRAFFIC)--> connector (its own /28 subnet) --> VPC --> Cloud Router + NAT --> internet
#
# NAT covers the connector's subnet only, so an existing network's other workloads are left alone; private
# destinations of that network (e.g. Cloud SQL private IP through its peering) are reached directly.
# Direct VPC egress would save the connector's instances, but needs a newer provider; the connector works
# with every provider version this module allows.

locals {
  static_egress  = var.static_egress.enabled
  create_network = local.static_egress && var.static_egress.network == null
  egress_network = local.create_network ? google_compute_network.egress[0].id : var.static_egress.network
}

resource "google_compute_network" "egress" {
  count = local.create_network ? 1 : 0

  project                 = var.project_id
  name                    = "${var.name}-egress"
  auto_create_subnetworks = false

  depends_on = [google_project_service.required]
}

resource "google_compute_subnetwork" "connector" {
  count = local.static_egress ? 1 : 0

  project                  = var.project_id
  region                   = var.region
  name                     = "${var.name}-connector"
  network                  = local.egress_network
  ip_cidr_range            = var.static_egress.connector_cidr
  private_ip_google_access = true
}

resource "google_vpc_access_connector" "egress" {
  count = local.static_egress ? 1 : 0

  project       = var.project_id
  region        = var.region
  name          = "${var.name}-vpc"
  machine_type  = var.static_egress.machine_type
  min_instances = var.static_egress.min_instances
  max_instances = var.static_egress.max_instances

  subnet {
    name       = google_compute_subnetwork.connector[0].name
    project_id = var.project_id
  }
}

resource "google_compute_address" "egress" {
  count = local.static_egress ? 1 : 0

  project      = var.project_id
  region       = var.region
  name         = "${var.name}-egress"
  address_type = "EXTERNAL"
  description  = "Source address of every connection the ${var.name} functions open (Cloud NAT)."

  depends_on = [google_project_service.required]
}

resource "google_compute_router" "egress" {
  count = local.static_egress ? 1 : 0

  project = var.project_id
  region  = var.region
  name    = "${var.name}-egress"
  network = local.egress_network
}

resource "google_compute_router_nat" "egress" {
  count = local.static_egress ? 1 : 0

  project                            = var.project_id
  region                             = var.region
  name                               = "${var.name}-egress"
  router                             = google_compute_router.egress[0].name
  nat_ip_allocate_option             = "MANUAL_ONLY"
  nat_ips                            = [google_compute_address.egress[0].self_link]
  source_subnetwork_ip_ranges_to_nat = "LIST_OF_SUBNETWORKS"
  # The connector's few instances carry every connection of every function: give them room for many
  # concurrent connections to the same database and Odoo (64 per instance by default).
  min_ports_per_vm = 1024

  subnetwork {
    name                    = google_compute_subnetwork.connector[0].id
    source_ip_ranges_to_nat = ["ALL_IP_RANGES"]
  }

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}
