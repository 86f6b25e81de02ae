"""The API contract shared by the Lambda pipeline, the self-hosted service, the engine backend and infra."""
