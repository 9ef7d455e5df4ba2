"""Tenantry on a laptop: API Gateway + JWT authorizer emulation, a dev issuer, embedded moto.

Nothing here ships to Lambda.
"""
