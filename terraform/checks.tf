# Rules that tie several inputs together, as Cloud Run states them (a variable's own validation can only
# look at that variable before Terraform 1.9). Checked at plan time by the built-in terraform_data
# resource, which needs no provider: test/terraform.test.ts plans this file with variables.tf alone.
#
# Cloud Run (configuring CPU and memory limits): below 1 vCPU, more than 512Mi needs at least 0.5 vCPU and
# more than 1Gi needs 1 vCPU; more than 4Gi needs 2, more than 8Gi 4, more than 16Gi 6, more than 24Gi 8;
# 4 vCPU need at least 2Gi, 6 and 8 vCPU at least 4Gi.

locals {
  tick_cpu_number = try(tonumber(var.tick_cpu), 0)
  tick_memory_mib = try(tonumber(regex("^[0-9]+", var.tick_memory)) * (endswith(var.tick_memory, "Gi") ? 1024 : 1), 0)
  # Least vCPU for the memory asked, and least memory for the vCPU asked.
  tick_cpu_needed = (
    local.tick_memory_mib > 24576 ? 8 :
    local.tick_memory_mib > 16384 ? 6 :
    local.tick_memory_mib > 8192 ? 4 :
    local.tick_memory_mib > 4096 ? 2 :
    local.tick_memory_mib > 1024 ? 1 :
    local.tick_memory_mib > 512 ? 0.5 : 0
  )
  tick_memory_needed_mib = local.tick_cpu_number >= 6 ? 4096 : local.tick_cpu_number >= 4 ? 2048 : 0
}

resource "terraform_data" "input_checks" {
  input = { tick_cpu = var.tick_cpu, tick_memory = var.tick_memory }

  lifecycle {
    precondition {
      condition     = local.tick_cpu_number >= local.tick_cpu_needed
      error_message = "tick_memory ${var.tick_memory} needs tick_cpu of at least ${local.tick_cpu_needed} (Cloud Run: above 512Mi 0.5 vCPU, above 1Gi 1, above 4Gi 2, above 8Gi 4, above 16Gi 6, above 24Gi 8)."
    }

    precondition {
      condition     = local.tick_memory_mib >= local.tick_memory_needed_mib
      error_message = "tick_cpu ${var.tick_cpu} needs tick_memory of at least ${local.tick_memory_needed_mib}Mi (Cloud Run: 4 vCPU need 2Gi, 6 and 8 vCPU need 4Gi)."
    }
  }
}
