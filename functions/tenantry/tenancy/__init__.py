"""Who the caller is: the tenant of the verified token, per request."""
