"""Training runs: start, execute (in the `training` worker), cancel; gated promotion; rollback."""
