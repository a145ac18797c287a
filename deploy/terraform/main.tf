# A tiny module: a namespace and the gateway's Deployment in it, through the kubernetes provider.
# The provider reads the cluster from ~/.kube/config; `terraform plan` shows what would change.

resource "kubernetes_namespace_v1" "this" {
  metadata {
    name = var.namespace
  }
}

resource "kubernetes_deployment_v1" "gateway" {
  metadata {
    name      = "aieng-gateway"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = { "app.kubernetes.io/name" = "aieng-gateway" }
  }

  spec {
    replicas = var.replicas

    selector {
      match_labels = { "app.kubernetes.io/name" = "aieng-gateway" }
    }

    template {
      metadata {
        labels = { "app.kubernetes.io/name" = "aieng-gateway" }
      }

      spec {
        container {
          name  = "gateway"
          image = var.image

          port {
            container_port = 8000
          }

          resources {
            requests = { cpu = "1", memory = "1Gi" }
            limits   = { cpu = "2", memory = "2Gi" }
          }

          readiness_probe {
            http_get {
              path = "/healthz"
              port = 8000
            }
          }
        }
      }
    }
  }
}
