"""Local stand-ins for the providers, spoken to over HTTP/SMTP by the real SDKs."""
