"""Builds the token verifier the configuration asks for (or none, when auth is disabled)."""

from __future__ import annotations

from polyad.config import Config
from polyad.security.keys import JwksKeys, hmac_secret, load_public_key, require_crypto
from polyad.security.tokens import TokenVerifier

__all__ = ["build_verifier"]


def build_verifier(config: Config) -> TokenVerifier | None:
    auth = config.auth
    if not auth.enabled:
        return None
    require_crypto(auth)
    return TokenVerifier(
        auth,
        secret=hmac_secret(auth, config.state_dir) if auth.uses_hmac else None,
        public_key=load_public_key(auth.public_key) if auth.public_key else None,
        jwks=JwksKeys(auth.jwks_url) if auth.jwks_url else None,
    )
