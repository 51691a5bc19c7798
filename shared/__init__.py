"""tipbench's shared library: settings, contracts, rubric, bench suite, broker, MLflow helpers."""
