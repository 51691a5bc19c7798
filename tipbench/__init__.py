"""The tipbench command line and the local (no Docker) stack."""
