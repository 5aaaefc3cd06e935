"""Gateway settings (environment prefix `YISHI_`, optional `.env` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from limits import parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DEV_RASA_TOKEN = "yishi-dev-token"
DEV_INTERNAL_TOKEN = "yishi-dev-internal-token"
DEV_ADMIN_TOKEN = "yishi-dev-admin-token"
DEV_CITIZEN_SECRET = "yishi-dev-citizen-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="YISHI_", env_file=ROOT / ".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    # text: one readable line per record; json: one JSON object per line (with conversation_id)
    log_format: Literal["text", "json"] = "text"
    log_json: bool = False  # older spelling of log_format=json

    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: SecretStr = SecretStr(DEV_RASA_TOKEN)
    action_url: str = "http://127.0.0.1:5055"
    rasa_connect_timeout_s: float = Field(2.0, gt=0)
    rasa_timeout_s: float = Field(15.0, gt=0)
    health_timeout_s: float = Field(2.0, gt=0)

    # the action server's token for /internal/*; an ops token scripts may use for admin routes
    # (people log in to the agent console with their own accounts)
    internal_token: SecretStr = SecretStr(DEV_INTERNAL_TOKEN)
    admin_token: SecretStr = SecretStr(DEV_ADMIN_TOKEN)

    # signs the token a browser needs to read its own conversation (GET /api/chat/updates)
    citizen_secret: SecretStr = SecretStr(DEV_CITIZEN_SECRET)

    # human agents: when they serve (the city's local time), and the handle time assumed for
    # wait estimates until enough conversations have been served to measure it
    timezone: str = "Asia/Shanghai"
    handoff_hours: str = Field("08:30-21:00", pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")
    handoff_weekdays: str = Field("1234567", pattern=r"^[1-7]{1,7}$")
    handoff_default_handle_s: float = Field(240.0, gt=0)

    # staff sessions and login throttling
    staff_session_ttl_s: int = Field(8 * 3600, ge=60)
    staff_idle_timeout_s: int = Field(1800, ge=60)
    login_max_failures: int = Field(5, ge=1)
    login_failure_window_s: int = Field(900, ge=10)
    cookie_secure: bool = False

    # citizens per appointment time slot of a hall
    appointment_slot_capacity: int = Field(3, ge=1)

    database_url: str = f"sqlite:///{ROOT / 'var' / 'yishi.db'}"
    # several gateway replicas: Redis carries agent events and presence between them
    # (channels/core/redis_hub.py); empty = one replica, in-process events
    redis_url: str = ""

    # Personal data at rest (channels/privacy/crypto.py, docs/privacy.md): Fernet keys,
    # comma-separated, the first encrypts and all decrypt; when empty, a key file with one key
    # per line (default: data.keys beside the SQLite database; created outside production)
    data_keys: SecretStr = SecretStr("")
    data_key_file: Path | None = None
    # Rasa's tracker store, for the purge (the SQLite file `make run` uses, or a URL)
    tracker_db: Path = ROOT / "var" / "rasa_tracker.db"
    tracker_db_url: str = ""
    # Retention per data class, in days (python -m channels.admin purge; docs/privacy.md)
    retention_transcripts_days: int = Field(180, ge=1)
    retention_handoffs_days: int = Field(180, ge=1)
    retention_applications_days: int = Field(365, ge=1)
    retention_tickets_days: int = Field(365, ge=1)
    # the Cybersecurity Law asks for at least six months of logs
    retention_audit_days: int = Field(1095, ge=180)
    retention_trackers_days: int = Field(30, ge=1)
    retention_form_drafts_days: int = Field(1, ge=1)

    @property
    def data_key_path(self) -> Path:
        """Where the data keys are read from when YISHI_DATA_KEYS is empty."""
        if self.data_key_file is not None:
            return self.data_key_file
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///")).parent / "data.keys"
        return ROOT / "var" / "data.keys"

    @property
    def tracker_url(self) -> str:
        return self.tracker_db_url or f"sqlite:///{self.tracker_db}"

    @model_validator(mode="after")
    def _data_keys_in_production(self) -> Settings:
        if (
            self.env == "production"
            and not self.data_keys.get_secret_value().strip()
            and self.data_key_file is None
        ):
            raise ValueError("YISHI_DATA_KEYS (or YISHI_DATA_KEY_FILE) must be set in production")
        return self

    max_text_chars: int = Field(500, ge=1)
    # every request body (JSON, WeChat XML, forms); recordings on /api/voice have their own
    # limit (YISHI_VOICE_MAX_AUDIO_BYTES)
    max_body_bytes: int = Field(16_384, ge=1024)

    # Rate limits in the `limits` notation ("20/minute", several joined by ";"), kept in
    # `rate_limit_storage` (memory:// per process; redis://host:6379 shares them between
    # replicas). Tests and the load bench raise them.
    rate_limit_enabled: bool = True
    rate_limit_storage: str = "memory://"
    # per conversation: /api/chat by sender, the WeChat webhook by openid
    rate_limit_sender: str = "20/minute;300/hour"
    # per recording sender on /api/voice (each recording costs seconds of CPU)
    rate_limit_voice: str = "6/minute;60/hour"
    # per client address on every citizen endpoint (not /wechat: WeChat's servers call it)
    rate_limit_ip: str = "120/minute"
    # per client address on /api/progress (receipt + last 4 digits: no guessing)
    rate_limit_progress: str = "10/minute;60/hour"

    # GET /metrics (Prometheus); with a token it asks for `Authorization: Bearer <token>`
    metrics_enabled: bool = True
    metrics_token: SecretStr | None = None

    @field_validator(
        "rate_limit_sender", "rate_limit_voice", "rate_limit_ip", "rate_limit_progress"
    )
    @classmethod
    def _limits_notation(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '20/minute;300/hour': {value!r}") from exc
        return value

    @property
    def json_logs(self) -> bool:
        return self.log_format == "json" or self.log_json

    @model_validator(mode="after")
    def _no_default_secrets_in_production(self) -> Settings:
        if self.env == "production":
            for name, secret, default in (
                ("YISHI_RASA_TOKEN", self.rasa_token, DEV_RASA_TOKEN),
                ("YISHI_INTERNAL_TOKEN", self.internal_token, DEV_INTERNAL_TOKEN),
                ("YISHI_ADMIN_TOKEN", self.admin_token, DEV_ADMIN_TOKEN),
                ("YISHI_CITIZEN_SECRET", self.citizen_secret, DEV_CITIZEN_SECRET),
            ):
                if secret.get_secret_value() == default:
                    raise ValueError(f"{name} must be set to a secret value in production")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
