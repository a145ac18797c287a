variable "namespace" {
  description = "The Kubernetes namespace the gateway runs in."
  type        = string
  default     = "aieng"
}

variable "image" {
  description = "The gateway image, pinned to a version (built from deploy/Dockerfile)."
  type        = string
  default     = "registry.example.com/aieng-gateway:0.1.0"

  validation {
    condition     = !endswith(var.image, ":latest") && length(split(":", var.image)) > 1
    error_message = "Pin the image to a version tag, not :latest."
  }
}

variable "replicas" {
  description = "How many gateway pods to run."
  type        = number
  default     = 2
}
