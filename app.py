#!/usr/bin/env python3
"""CDK entry point: `cdk synth` / `cdk deploy` / `python app.py`. Settings: cdk.json context (docs/operations.md)."""

import os

from infra.stack import build_app

# The CDK CLI passes its output directory in CDK_OUTDIR; run directly, write to ./cdk.out as the CLI would.
app, _stack = build_app(outdir=os.environ.get("CDK_OUTDIR", "cdk.out"), nag=True)
app.synth()
