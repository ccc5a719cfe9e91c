"""Click commands, one module per area; each maps options to one library call."""
