"""Bearer JWTs from OpenID providers (Entra ID, Okta, Keycloak): shape, keys, signature, claims."""
