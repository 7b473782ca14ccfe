"""An agent that takes ES256 tokens from a JWKS URL, and a token whose `kid` it cannot know."""

from __future__ import annotations

import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import AppClient, MakeClient


async def jwks_client(make_client: MakeClient, jwks_url: str) -> AppClient:
    return await make_client(auth={"secret": None, "algorithms": ["ES256"],
                                   "jwks_url": jwks_url}, token=None)


def token_of_unknown_key(kid: str = "k") -> str:
    now = int(time.time())
    claims = {"sub": "x", "scope": "read", "iat": now, "exp": now + 600}
    return jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256",
                      headers={"kid": kid})
