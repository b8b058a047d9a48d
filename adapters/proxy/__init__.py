"""The Proxy e-santé (Espace de confiance): PSC sessions, token exchange per backend, mTLS pass-through."""
