"""The Rancher 1.x (Cattle) API: /v1 and /v2-beta, moto-shaped: routes, handlers, store, models."""
