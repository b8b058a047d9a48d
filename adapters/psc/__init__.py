"""Pro Santé Connect adapters: the OpenID Connect client, the loopback redirect receiver, the browser."""
