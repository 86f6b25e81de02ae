#!/usr/bin/env python3
"""CDK entry point: `cdk synth` / `cdk deploy` / `python app.py`. Settings: cdk.json context (docs/operations.md)."""

from infra.stack import build_app

app, _stack = build_app(nag=True)
app.synth()
