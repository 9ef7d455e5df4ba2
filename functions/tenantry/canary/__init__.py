"""The isolation canary: a scheduled function proves, as a synthetic tenant, that another tenant is out of reach."""
