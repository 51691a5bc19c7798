"""Where tipbench keeps state: each store beside the records it persists."""
