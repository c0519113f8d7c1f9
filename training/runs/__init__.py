"""Training runs: start, execute (in the `training` worker), cancel; the promotion gate.
Activation and rollback are the registry's (registry.services)."""
