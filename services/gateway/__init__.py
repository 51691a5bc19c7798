"""The gateway: the HTTP API. Validates, records the job, enqueues, answers; never runs a model."""
