"""Gateway settings (environment prefix `YISHI_`, optional `.env` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
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
    log_json: bool = False

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

    max_text_chars: int = Field(500, ge=1)
    max_body_bytes: int = Field(16_384, ge=1024)

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
