"""tipbench services: each folder is one deployable app; none imports another."""
