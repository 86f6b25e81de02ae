"""The job ledger table: one item per input object version, behind `declick status` and `declick replay`.

Written by the Lambdas through ``functions/declick_pipeline/ledger.py``; the item's shape and the
names used here (key attributes, the ``by-status`` index) are in ``declick_contract.job_ledger``.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from declick_contract.job_ledger import PARTITION_KEY, SORT_KEY, STATUS_INDEX, STATUS_INDEX_KEYS
from infra.secure_storage import encrypted_table

# Every function that writes the ledger needs only this: each write is one upsert (UpdateItem).
LEDGER_WRITE_ACTIONS = ["dynamodb:UpdateItem"]


def job_ledger_table(scope: Construct, construct_id: str, *, removal: RemovalPolicy) -> dynamodb.Table:
    table = encrypted_table(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name=SORT_KEY, type=dynamodb.AttributeType.STRING),
        removal=removal,
    )
    # "Every FAILED upload between two times" (declick replay --failed-since) is one Query.
    table.add_global_secondary_index(
        index_name=STATUS_INDEX,
        partition_key=dynamodb.Attribute(name=STATUS_INDEX_KEYS[0], type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name=STATUS_INDEX_KEYS[1], type=dynamodb.AttributeType.STRING),
        projection_type=dynamodb.ProjectionType.ALL,
    )
    return table
