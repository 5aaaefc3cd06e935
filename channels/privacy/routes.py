"""`/internal/pii…`: the form-value vault for the action server only (header `X-Yishi-Token`).

Values travel in request bodies, never in URLs, so no access log can hold them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from channels.applications.routes import require_internal
from channels.privacy.vault import PiiVault

router = APIRouter(dependencies=[Depends(require_internal)], include_in_schema=False)
Sender = Annotated[str, Field(min_length=3, max_length=160)]


def get_vault(request: Request) -> PiiVault:
    vault: PiiVault = request.app.state.vault
    return vault


VaultDep = Annotated[PiiVault, Depends(get_vault)]


class SealBody(BaseModel):
    sender: Sender
    values: list[Annotated[str, Field(max_length=2000)]] = Field(max_length=40)


class RevealBody(BaseModel):
    sender: Sender
    tokens: list[Annotated[str, Field(max_length=40)]] = Field(max_length=100)


class ForgetBody(BaseModel):
    sender: Sender


@router.post("/internal/pii")
async def seal(body: SealBody, vault: VaultDep) -> dict[str, list[str]]:
    """Keep the values encrypted; one token per value, in order."""
    return {"tokens": await run_in_threadpool(vault.seal, body.sender, body.values)}


@router.post("/internal/pii/reveal")
async def reveal(body: RevealBody, vault: VaultDep) -> dict[str, dict[str, str]]:
    """The values of the sender's tokens (unknown or expired ones are left out)."""
    return {"values": await run_in_threadpool(vault.reveal, body.sender, body.tokens)}


@router.post("/internal/pii/forget")
async def forget(body: ForgetBody, vault: VaultDep) -> dict[str, int]:
    """Drop what the sender's forms left in the vault (after a submission or a cancel)."""
    return {"deleted": await run_in_threadpool(vault.forget, body.sender)}
