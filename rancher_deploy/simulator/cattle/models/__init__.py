"""Rancher 1.6 objects, one module per resource family, and the service state machine; no HTTP."""
