"""The one settings object. Every TIPBENCH_* variable is read here and nowhere else."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values people paste from examples; refusing them keeps a demo token out of production.
PLACEHOLDER_TOKENS = frozenset({"changeme", "change-me", "secret", "token", "admin", "password"})
MIN_TOKEN_LENGTH = 16


class Settings(BaseSettings):
    """tipbench settings, from TIPBENCH_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="TIPBENCH_", extra="ignore", frozen=True)

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Redis for the queues and the job records."
    )
    namespace: str = Field(
        "tipbench",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Prefix of every Redis key, queues included, so stacks can share one Redis.",
    )
    mlflow_uri: str = Field("http://127.0.0.1:5000", description="MLflow tracking server URL.")
    mlflow_port: int = Field(5000, ge=1, le=65535, description="Port of the local MLflow server.")
    ollama_host: str = Field("http://127.0.0.1:11434", description="Ollama server URL.")
    ollama_timeout_s: float = Field(
        120.0, gt=0, description="Timeout of one warm Ollama call, seconds."
    )
    ollama_load_timeout_s: float = Field(
        600.0, gt=0, description="Timeout of a call that loads a model (cold), seconds."
    )
    openai_base_url: str = Field(
        "http://127.0.0.1:8080/v1",
        description="OpenAI-compatible server of `openai:` models (vLLM, llama-server...).",
    )
    openai_timeout_s: float = Field(
        300.0, gt=0, description="Timeout of one call to the OpenAI-compatible server, seconds."
    )
    openai_api_key: SecretStr = Field(
        SecretStr(""), description="API key for that server, if it wants one."
    )
    admin_token: SecretStr = Field(
        description="Bearer token for every /api route (required, at least 16 characters)."
    )
    gateway_host: str = Field("127.0.0.1", description="Interface the gateway binds to.")
    gateway_port: int = Field(8000, ge=1, le=65535, description="Port the gateway listens on.")
    collect_max_retries: int = Field(
        3, ge=0, le=20, description="Retries of a failing cell before it is marked failed."
    )
    max_cells_per_job: int = Field(
        2000, ge=1, description="Largest models x prompts x scenarios a request may ask for."
    )
    var_dir: str = Field("var", description="Where the local stack keeps data, logs, pid files.")

    @field_validator("admin_token")
    @classmethod
    def _refuse_placeholder(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(f"TIPBENCH_ADMIN_TOKEN must be at least {MIN_TOKEN_LENGTH} characters")
        if token.lower() in PLACEHOLDER_TOKENS:
            raise ValueError("TIPBENCH_ADMIN_TOKEN is a placeholder; set a real secret")
        return value

    def key(self, *parts: str) -> str:
        """A Redis key under this stack's namespace."""
        return ":".join((self.namespace, *parts))
