"""The Rancher 2.x APIs: v3 (Norman), the Kubernetes proxy and Steve, over one simulated cluster."""
