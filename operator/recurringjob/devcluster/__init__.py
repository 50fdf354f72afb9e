"""An embedded Kubernetes API server faithful enough for kubectl, the official client and Kopf."""
