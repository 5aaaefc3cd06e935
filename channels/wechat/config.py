"""WeChat channel settings (environment prefix `YISHI_WECHAT_`, optional `.env` file)."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from channels.config import ROOT

# demo values (also in .env.example); production refuses them
DEV_TOKEN = "yishi-dev-wechat-token"
DEV_APP_ID = "wx00000000yishidev"
DEV_APP_SECRET = "yishi-dev-wechat-app-secret"
# the example key of WeChat's own documentation: 43 characters of base64 without the "="
DEV_ENCODING_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

Mode = Literal["plaintext", "compatible", "safe"]


class WechatSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="YISHI_WECHAT_",
        env_file=ROOT / ".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # the gateway's own YISHI_ENV: production refuses the demo secrets and serves no simulator
    env: Literal["development", "test", "production"] = Field(
        "development", validation_alias="YISHI_ENV"
    )
    # off: /wechat answers 404 and nothing is pushed (a deployment without an Official Account)
    enabled: bool = True

    # 公众平台 → 基本配置 → 服务器配置: Token, EncodingAESKey and the message mode
    token: SecretStr = SecretStr(DEV_TOKEN)
    encoding_aes_key: SecretStr = SecretStr(DEV_ENCODING_AES_KEY)
    mode: Mode = "plaintext"
    app_id: str = DEV_APP_ID
    app_secret: SecretStr = SecretStr(DEV_APP_SECRET)

    # WeChat's API (access token, customer-service messages, media, menu); tests and the
    # simulator point it at a fake
    api_base: str = "https://api.weixin.qq.com"
    api_timeout_s: float = Field(5.0, gt=0)
    # refresh the access token this long before WeChat says it expires
    token_refresh_margin_s: float = Field(300.0, ge=0)

    # WeChat waits 5 s for the passive reply; past this the webhook answers `success` and the
    # reply goes out through the customer-service API when the bot is done
    passive_timeout_s: float = Field(4.5, gt=0, lt=5.0)
    # requests whose timestamp is further than this from now are refused (replays)
    max_clock_skew_s: int = Field(300, ge=1)
    # dedup keys (MsgId, or FromUserName + CreateTime) are kept this long
    dedup_ttl_s: int = Field(3 * 24 * 3600, ge=60)

    # customer-service messages: the window a citizen's action opens and how many messages it
    # allows (WeChat's rules since 2023-06: a message 5 in 48 h; a menu click or follow 3 in 1 min)
    message_window_s: int = Field(48 * 3600, ge=1)
    message_quota: int = Field(5, ge=1)
    event_window_s: int = Field(60, ge=1)
    event_quota: int = Field(3, ge=1)
    push_attempts: int = Field(4, ge=1)
    push_backoff_s: float = Field(0.5, ge=0)

    # one text message; longer replies are split (WeChat truncates text past 2048 bytes)
    max_message_bytes: int = Field(2000, ge=200, le=2048)

    # /wechat-sim and its dev-only helpers (never served in production)
    simulator: bool = True

    @field_validator("encoding_aes_key")
    @classmethod
    def _aes_key_shape(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value()
        try:
            ok = len(key) == 43 and len(base64.b64decode(key + "=")) == 32
        except (binascii.Error, ValueError):
            ok = False
        if not ok:
            raise ValueError("EncodingAESKey must be 43 base64 characters (a 32-byte key)")
        return value

    @field_validator("api_base")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _no_demo_secrets_in_production(self) -> WechatSettings:
        if self.env == "production" and self.enabled:
            for name, value, demo in (
                ("YISHI_WECHAT_TOKEN", self.token.get_secret_value(), DEV_TOKEN),
                ("YISHI_WECHAT_APP_ID", self.app_id, DEV_APP_ID),
                ("YISHI_WECHAT_APP_SECRET", self.app_secret.get_secret_value(), DEV_APP_SECRET),
                (
                    "YISHI_WECHAT_ENCODING_AES_KEY",
                    self.encoding_aes_key.get_secret_value(),
                    DEV_ENCODING_AES_KEY,
                ),
            ):
                if value == demo:
                    raise ValueError(
                        f"{name} must be set to the Official Account's own value in production "
                        "(or YISHI_WECHAT_ENABLED=false)"
                    )
        return self

    @property
    def simulator_on(self) -> bool:
        return self.simulator and self.enabled and self.env != "production"


@lru_cache
def get_wechat_settings() -> WechatSettings:
    return WechatSettings()
