"""The one settings object. Every TIPBENCH_* variable is read here and nowhere else."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.hosts import GenerationHost, parse_hosts

# Values people paste from examples; refusing them keeps a demo token out of production.
PLACEHOLDER_TOKENS = frozenset({"changeme", "secret", "token", "admin", "password", "example"})


def is_placeholder(token: str) -> bool:
    """True for example values: `changeme`, `change-me-please-now`, `<your-token-here>`..."""
    words = "".join(c for c in token.lower() if c.isalnum())
    return (
        words in PLACEHOLDER_TOKENS
        or words.startswith(("changeme", "yourtoken", "yoursecret", "replaceme", "placeholder"))
        or "placeholder" in words
    )


MIN_TOKEN_LENGTH = 16
# The token a development stack accepts when none is configured (TIPBENCH_DEV_MODE only).
DEV_MODE_TOKEN = "dev-mode-token"


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
    mlflow_backend_uri: str = Field(
        "",
        description="Backend store of the MLflow server the local stack starts (e.g. "
        "postgresql+psycopg2://user@host/db); empty: SQLite under the var dir.",
    )
    mlflow_public_url: str = Field(
        "",
        description="MLflow's address as a browser reaches it, for links in the admin pages; "
        "empty: TIPBENCH_MLFLOW_URI.",
    )
    ollama_host: str = Field("http://127.0.0.1:11434", description="Ollama server URL.")
    ollama_timeout_s: float = Field(
        120.0, gt=0, description="Timeout of one warm Ollama call, seconds."
    )
    ollama_load_timeout_s: float = Field(
        600.0, gt=0, description="Timeout of a call that loads a model (cold), seconds."
    )
    gguf_dir: str = Field(
        "",
        description="A models folder: gguf:<name> (and llm:gguf:<name>) runs <name>.gguf from"
        " it, beside the built-in catalog; no other path is ever opened. Empty: catalog only.",
    )
    ollama_parallel: int = Field(
        1,
        ge=1,
        le=32,
        description="Requests the collector keeps in flight to Ollama for the loaded model"
        " (match OLLAMA_NUM_PARALLEL); 1: one at a time.",
    )
    openai_parallel: int = Field(
        1,
        ge=1,
        le=32,
        description="Requests the collector keeps in flight to the OpenAI-compatible server"
        " for one model (its parallel slots: vLLM, llama-server -np); 1: one at a time.",
    )
    openai_base_url: str = Field(
        "http://127.0.0.1:8080/v1",
        description="OpenAI-compatible server of `openai:` models (vLLM, llama-server...).",
    )
    hosts: str = Field(
        "",
        description="Generation hosts, one collector and queue each: name=url, comma-separated"
        " (url prefixed openai: for an OpenAI-compatible server, else Ollama); a job's models"
        " are spread over them. Empty: the one host above.",
    )
    collector_host: str = Field(
        "",
        description="The host (a TIPBENCH_HOSTS name) this collector generates on; the local"
        " stack and compose set it per collector.",
    )
    openai_timeout_s: float = Field(
        300.0, gt=0, description="Timeout of one call to the OpenAI-compatible server, seconds."
    )
    openai_api_key: SecretStr = Field(
        SecretStr(""), description="API key for that server, if it wants one."
    )
    admin_token: SecretStr = Field(
        SecretStr(""),
        description="Admin token(s) of the API and the admin pages; several, comma-separated, "
        "while rotating. Each at least 16 characters; placeholders refused.",
    )
    admin_token_file: str = Field(
        "",
        description="A file of admin tokens, one per line (a mounted secret); "
        "accepted beside TIPBENCH_ADMIN_TOKEN.",
    )
    dev_mode: bool = Field(
        False,
        description="Development only: accept a missing, short or placeholder admin token "
        "(the gateway then warns at every start).",
    )
    session_secret: SecretStr = Field(
        SecretStr(""),
        description="Key signing admin session cookies; derived from the admin tokens if "
        "empty (then changing the tokens ends every session).",
    )
    secure_cookies: bool = Field(
        False, description="Mark the session cookie Secure (set it when served over HTTPS)."
    )
    max_body_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest request body the gateway reads, bytes."
    )
    gateway_host: str = Field("127.0.0.1", description="Interface the gateway binds to.")
    url: str = Field(
        "",
        description="The gateway the CLI talks to, e.g. https://bench.example.org (also"
        " `tipbench --url`); empty: http://<gateway_host>:<gateway_port>.",
    )
    gateway_port: int = Field(8000, ge=1, le=65535, description="Port the gateway listens on.")
    proxy_hops: int = Field(
        0,
        ge=0,
        le=5,
        description="Reverse proxies in front of the gateway whose X-Forwarded-For/-Proto it "
        "trusts (1 behind the compose proxy); 0: the peer address is the client.",
    )
    request_read_timeout_s: float = Field(
        20.0,
        gt=0,
        le=600,
        description="Time a client has to send a whole request (headers and body) to the "
        "gateway before it is cut off, seconds.",
    )
    collect_max_retries: int = Field(
        3, ge=0, le=20, description="Retries of a failing cell before it is marked failed."
    )
    max_cells_per_job: int = Field(
        2000,
        ge=1,
        description="Largest models x prompts x scenarios x repeats one request may ask for"
        " (16 models x 3 prompts x 24 scenarios x 3 repeats would be 3,456).",
    )
    max_queued_cells_per_experiment: int = Field(
        10_000,
        ge=1,
        description="Cells an experiment's unfinished jobs may hold at once; a request past it"
        " is refused until they end.",
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Interface the workers' Prometheus endpoints bind to."
    )
    metrics_port: int = Field(
        9191,
        ge=1,
        le=65000,
        description="Port of the first worker's Prometheus endpoint; the local stack gives "
        "the next workers the next ports (collector, recorder, judge_bridge, reporters).",
    )
    service: str = Field(
        "", description="Name of this process in the logs (the local stack sets it)."
    )
    min_scenarios: int = Field(
        3,
        ge=2,
        le=1000,
        description="Scored scenarios a leaderboard row needs for an interval and a rank.",
    )
    var_dir: str = Field("var", description="Where the local stack keeps data, logs, pid files.")

    @model_validator(mode="after")
    def _check_hosts(self) -> Settings:
        names = [host.name for host in parse_hosts(self.hosts)]  # raises naming the entry
        if self.collector_host and self.collector_host not in names:
            raise ValueError(
                f"TIPBENCH_COLLECTOR_HOST {self.collector_host!r} is not among TIPBENCH_HOSTS"
                f" {names}"
            )
        return self

    def generation_hosts(self) -> tuple[GenerationHost, ...]:
        """The configured generation hosts; empty for the one-host default."""
        return parse_hosts(self.hosts)

    def collector_generation_host(self) -> GenerationHost | None:
        """The host this collector process generates on, if TIPBENCH_COLLECTOR_HOST is set."""
        found = [h for h in self.generation_hosts() if h.name == self.collector_host]
        return found[0] if found else None

    @model_validator(mode="after")
    def _check_admin_tokens(self) -> Settings:
        # Only services that authenticate (the gateway, the CLI) call checked_admin_tokens;
        # here a configured token is checked wherever it is set, a missing one is not.
        if self.admin_token.get_secret_value() or self.admin_token_file:
            self.checked_admin_tokens()
        return self

    def checked_admin_tokens(self) -> list[str]:
        """The admin tokens; ValueError naming the problem if none, or a weak one, is set."""
        tokens = self.admin_tokens()  # raises if the file cannot be read
        if self.dev_mode:
            return tokens
        if not tokens:
            raise ValueError(
                "no admin token: set TIPBENCH_ADMIN_TOKEN or TIPBENCH_ADMIN_TOKEN_FILE "
                "(or TIPBENCH_DEV_MODE=true on a development machine)"
            )
        for number, token in enumerate(tokens, start=1):
            if len(token) < MIN_TOKEN_LENGTH:
                raise ValueError(
                    f"admin token #{number} is shorter than {MIN_TOKEN_LENGTH} characters"
                )
            if is_placeholder(token):
                raise ValueError(f"admin token #{number} is a placeholder; set a real secret")
        return tokens

    def admin_tokens(self) -> list[str]:
        """Every accepted admin token: TIPBENCH_ADMIN_TOKEN's, then the token file's.

        In dev mode with none configured, the single token `dev-mode-token`.
        """
        tokens = [t.strip() for t in self.admin_token.get_secret_value().split(",") if t.strip()]
        if self.admin_token_file:
            try:
                with open(self.admin_token_file, encoding="utf-8") as handle:
                    lines = handle.read().splitlines()
            except OSError as exc:
                raise ValueError(
                    f"cannot read TIPBENCH_ADMIN_TOKEN_FILE {self.admin_token_file!r}: "
                    f"{exc.strerror or exc}"
                ) from None
            tokens += [line.strip() for line in lines if line.strip() and line[:1] != "#"]
        if not tokens and self.dev_mode:
            tokens = [DEV_MODE_TOKEN]
        return tokens

    def mlflow_link_base(self) -> str:
        """The MLflow address for links people follow: the public URL, else the tracking URI."""
        return (self.mlflow_public_url or self.mlflow_uri).rstrip("/")

    @property
    def collector_threads(self) -> int:
        """The collector's threads: one per request it may keep in flight, and one more
        holding the next cell ready to start when a generation ends."""
        return max(self.ollama_parallel, self.openai_parallel) + 1

    def key(self, *parts: str) -> str:
        """A Redis key under this stack's namespace."""
        return ":".join((self.namespace, *parts))
