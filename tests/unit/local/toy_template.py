"""A CloudFormation template shaped like CDK's output (Fn::Join definitions, GetAtt ARNs, a
`Custom::S3BucketNotifications`, event source mappings), wired to `toy_handlers`."""

from __future__ import annotations

import json

PACKAGE = "tests.unit.local.toy_handlers"


def _fn(handler: str, env: dict, memory: int = 256, timeout: int = 30) -> dict:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Code": {
                "S3Bucket": {"Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"},
                "S3Key": "x.zip",
            },
            "Handler": f"{PACKAGE}.{handler}",
            "Runtime": "python3.12",
            "MemorySize": memory,
            "Timeout": timeout,
            "Role": {"Fn::GetAtt": ["Role", "Arn"]},
            "Environment": {"Variables": env},
        },
    }


def _task(state: str, function: str, next_state: str, result_path: str) -> dict:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": f"@@{function}@@", "Payload.$": "$"},
        "ResultSelector": {"Payload.$": "$.Payload"},
        "OutputPath": "$",
        "ResultPath": result_path,
        "Retry": [{"ErrorEquals": ["Lambda.ServiceException"], "IntervalSeconds": 1, "MaxAttempts": 2}],
        "Next": next_state,
    }


def _definition() -> dict:
    """ASL text split around function ARNs, the way CDK renders it with Fn::Join."""
    asl = {
        "StartAt": "Poll",
        "States": {
            "Poll": {
                "Type": "Task",
                "Resource": "@@StepFn@@",
                "ResultPath": "$.poll",
                "Next": "Route",
            },
            "Route": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.poll.status", "NumericEquals": 3, "Next": "Deliver"}],
                "Default": "Wait",
            },
            "Wait": {"Type": "Wait", "SecondsPath": "$.poll.wait_seconds", "Next": "Poll"},
            "Deliver": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "@@DeliverFn@@", "Payload.$": "$"},
                "ResultSelector": {"Payload.$": "$.Payload"},
                "ResultPath": "$.delivery",
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Fail"}],
                "End": True,
            },
            "Fail": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "@@FailFn@@", "Payload.$": "$"},
                "End": True,
            },
        },
    }
    text = json.dumps(asl)
    parts: list = []
    for i, chunk in enumerate(text.split("@@")):
        parts.append(chunk if i % 2 == 0 else {"Fn::GetAtt": [chunk, "Arn"]})
    return {"Fn::Join": ["", parts]}


def toy_template() -> dict:
    common = {"TOPIC_ARN": {"Ref": "Topic"}, "POWERTOOLS_SERVICE_NAME": "toy"}
    return {
        "Parameters": {"BootstrapVersion": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/cdk"}},
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
            "InputBucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {"VersioningConfiguration": {"Status": "Enabled"}},
            },
            "OutputBucket": {"Type": "AWS::S3::Bucket", "Properties": {}},
            "InputNotifications": {
                "Type": "Custom::S3BucketNotifications",
                "Properties": {
                    "ServiceToken": {"Fn::GetAtt": ["NotifHandler", "Arn"]},
                    "BucketName": {"Ref": "InputBucket"},
                    "NotificationConfiguration": {
                        "QueueConfigurations": [
                            {"Events": ["s3:ObjectCreated:*"], "QueueArn": {"Fn::GetAtt": ["SubmitQueue", "Arn"]}}
                        ]
                    },
                    "Managed": True,
                },
            },
            "NotifHandler": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Handler": "index.handler", "Runtime": "python3.11", "Code": {"ZipFile": "x"}},
            },
            "DeadLetters": {"Type": "AWS::SQS::Queue", "Properties": {"MessageRetentionPeriod": 1209600}},
            "SubmitQueue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "VisibilityTimeout": 180,
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetters", "Arn"]},
                        "maxReceiveCount": 2,
                    },
                },
            },
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
            "Secret": {"Type": "AWS::SecretsManager::Secret", "Properties": {"GenerateSecretString": {}}},
            "Table": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                    "BillingMode": "PAY_PER_REQUEST",
                    "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True},
                },
            },
            "SubmitFn": _fn(
                "submit",
                {
                    **common,
                    "STATE_MACHINE_ARN": {"Ref": "Machine"},
                    "SECRET": {"Ref": "Secret"},
                    "TABLE": {"Ref": "Table"},
                },
            ),
            "StepFn": _fn("poll", common),
            "DeliverFn": _fn("deliver", {**common, "OUTPUT_BUCKET": {"Ref": "OutputBucket"}}, memory=512, timeout=60),
            "FailFn": _fn("fail", common),
            "DeadFn": _fn("dead", common),
            "SubmitMapping": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {
                    "EventSourceArn": {"Fn::GetAtt": ["SubmitQueue", "Arn"]},
                    "FunctionName": {"Ref": "SubmitFn"},
                    "BatchSize": 10,
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                },
            },
            "DeadMapping": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {
                    "EventSourceArn": {"Fn::GetAtt": ["DeadLetters", "Arn"]},
                    "FunctionName": {"Ref": "DeadFn"},
                    "BatchSize": 1,
                },
            },
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"DefinitionString": _definition(), "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]}},
            },
        },
    }
