"""What the tests and the benchmarks share: the fake Ollama server, its models, free ports,
the environment that reproduces a Settings in another process. Never imported by tipbench."""
