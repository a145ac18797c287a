output "namespace" {
  description = "The namespace the gateway runs in."
  value       = kubernetes_namespace_v1.this.metadata[0].name
}
