"""A CloudFormation deployer for the resource types the pipeline's template uses, on moto.

It reads what `cdk synth` produced (see `declick.local.template` for intrinsic functions) and
creates each resource through the AWS APIs, in dependency order, recording physical names and
ARNs so that `Ref`/`Fn::GetAtt` resolve to what moto really created. What it cannot emulate
faithfully (conditions, unknown attributes, other bucket notification kinds) is refused with a
`TemplateError` rather than approximated.

Deployment has two phases because the handlers are imported between them: their environment
(phase one) must be set first, and the functions must be loadable before anything can invoke
them (phase two).
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

from declick.local.emulator.event_sources import EventSourceMapping
from declick.local.emulator.lambda_runtime import FunctionSpec
from declick.local.emulator.sandbox import in_packages
from declick.local.template import (
    ACCOUNT_ID,
    PARTITION,
    REGION,
    Resolver,
    Template,
    TemplateError,
    state_machine_definition,
)


def _tiny_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "# code runs in process, see declick.local.emulator.lambda_runtime\n")
    return buffer.getvalue()


class StackDeployer:
    """Creates a template's resources; `env_overrides` go over every function's environment.

    Secrets the template does not give a value get `default_secret_value` (else a random one).
    """

    def __init__(
        self,
        template: Template,
        client: Callable[[str], Any],
        handler_packages: tuple[str, ...],
        *,
        env_overrides: Mapping[str, str],
        default_secret_value: str | None,
    ):
        self.template = template
        self.client = client
        self.handler_packages = handler_packages
        self.env_overrides = dict(env_overrides)
        self.default_secret_value = default_secret_value
        self.physical: dict[str, str] = {}
        self.arns: dict[str, str] = {}
        self.queue_urls: dict[str, str] = {}  # logical id -> url
        self.functions: dict[str, FunctionSpec] = {}  # logical id -> spec
        self.environment: dict[str, str] = {}  # the union of the functions' environments
        self.mappings: list[EventSourceMapping] = []
        self.state_machines: dict[str, str] = {}  # logical id -> arn
        self.dead_letter_queues: list[str] = []  # logical ids of queues named in a redrive policy
        self.notified_buckets: list[str] = []  # bucket names with event notifications
        self.access_key_secrets: dict[str, str] = {}  # logical id of an AWS::IAM::AccessKey -> its secret
        self._role_arn = ""

    def _name_for(self, logical_id: str, prefix: str = "declick-local-", limit: int = 64) -> str:
        return (prefix + logical_id)[:limit]

    def _ref(self, logical_id: str) -> Any:
        resource = self.template.resources[logical_id]
        if resource.type == "AWS::SQS::Queue":
            return self.queue_urls[logical_id]
        if resource.type in ("AWS::SNS::Topic", "AWS::SecretsManager::Secret", "AWS::StepFunctions::StateMachine"):
            return self.arns[logical_id]
        return self.physical.get(logical_id, logical_id)

    def _get_att(self, logical_id: str, attr: str) -> Any:
        resource = self.template.resources[logical_id]
        name = self.physical.get(logical_id, logical_id)
        if attr in ("Arn", "TopicArn") and logical_id in self.arns:
            return self.arns[logical_id]
        if resource.type == "AWS::SQS::Queue" and attr == "QueueUrl":
            return self.queue_urls[logical_id]
        if attr in ("QueueName", "TopicName", "Name"):
            return name
        if resource.type == "AWS::IAM::AccessKey" and attr == "SecretAccessKey":
            return self.access_key_secrets[logical_id]
        if resource.type == "AWS::S3::Bucket" and attr == "Arn":
            return f"arn:{PARTITION}:s3:::{name}"
        if resource.type == "AWS::S3::Bucket" and attr in ("DomainName", "RegionalDomainName"):
            return f"{name}.s3.{REGION}.amazonaws.com"
        if resource.type == "AWS::ApiGatewayV2::Api" and attr == "ApiEndpoint":
            # The HTTP API itself is not deployed: the local runner serves it (declick.local.http_api)
            # and overrides API_BASE_URL with that server's URL.
            return f"https://{name.lower()}.execute-api.{REGION}.amazonaws.com"
        if attr == "Arn":
            service = resource.type.split("::")[1].lower()
            return f"arn:{PARTITION}:{service}:{REGION}:{ACCOUNT_ID}:{logical_id}/{name}"
        raise TemplateError(f"Fn::GetAtt {logical_id}.{attr} is not emulated")

    def ref(self, logical_id: str) -> Any:
        """What `Ref` to a deployed resource gives (for resolving the template's `Outputs`)."""
        return self._ref(logical_id)

    def get_att(self, logical_id: str, attr: str) -> Any:
        """What `Fn::GetAtt` on a deployed resource gives."""
        return self._get_att(logical_id, attr)

    def deploy_resources(self) -> None:
        """Phase one: everything the functions' environment refers to, and the function specs."""
        resolve = Resolver(self.template, self._ref, self._get_att).resolve
        iam = self.client("iam")
        self._role_arn = iam.create_role(
            RoleName="declick-local-lambda",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]

        for res in self.template.of_type("AWS::KMS::Key"):
            key = self.client("kms").create_key(Description=res.logical_id)["KeyMetadata"]
            self.physical[res.logical_id] = key["KeyId"]
            self.arns[res.logical_id] = key["Arn"]

        for res in self.template.of_type("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"):
            self._deploy_table(res, resolve)
        # IAM users with access keys (the file_link signer): the key's id and secret reach the
        # template's secret through Ref / Fn::GetAtt SecretAccessKey, as CloudFormation does it.
        for res in self.template.of_type("AWS::IAM::User"):
            name = resolve(res.properties.get("UserName")) or self._name_for(res.logical_id)
            self.physical[res.logical_id] = name
            self.arns[res.logical_id] = iam.create_user(UserName=name)["User"]["Arn"]
        for res in self.template.of_type("AWS::IAM::AccessKey"):
            key = iam.create_access_key(UserName=resolve(res.properties["UserName"]))["AccessKey"]
            self.physical[res.logical_id] = key["AccessKeyId"]
            self.access_key_secrets[res.logical_id] = key["SecretAccessKey"]
        for res in self.template.of_type("AWS::SecretsManager::Secret"):
            props = res.properties
            name = resolve(props.get("Name")) or self._name_for(res.logical_id)
            value = resolve(props.get("SecretString")) or self.default_secret_value
            if value is None:
                value = json.dumps({"local": uuid.uuid4().hex})
            arn = self.client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]
            self.physical[res.logical_id], self.arns[res.logical_id] = name, arn
        for res in self.template.of_type("AWS::SNS::Topic"):
            name = resolve(res.properties.get("TopicName")) or self._name_for(res.logical_id, limit=256)
            self.physical[res.logical_id] = name
            self.arns[res.logical_id] = self.client("sns").create_topic(Name=name)["TopicArn"]
        self._deploy_queues(resolve)
        for res in self.template.of_type("AWS::S3::Bucket"):
            props = res.properties
            name = resolve(props.get("BucketName")) or self._name_for(res.logical_id.lower(), limit=63)
            name = name.lower().replace("_", "-")
            self.physical[res.logical_id] = name
            s3 = self.client("s3")
            s3.create_bucket(Bucket=name)
            if (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})

        functions = [
            res
            for res in self.template.of_type("AWS::Lambda::Function")
            if in_packages(str(res.properties.get("Handler", "")), self.handler_packages)
        ]
        if not functions:
            raise TemplateError(f"no function in the template has a handler in {self.handler_packages}")
        for res in functions:
            name = resolve(res.properties.get("FunctionName")) or self._name_for(res.logical_id)
            self.physical[res.logical_id] = name
            self.arns[res.logical_id] = f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
        for res in self.template.of_type("AWS::StepFunctions::StateMachine"):
            name = resolve(res.properties.get("StateMachineName")) or self._name_for(res.logical_id, limit=80)
            self.physical[res.logical_id] = name
            self.arns[res.logical_id] = f"arn:{PARTITION}:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}"

        environment: dict[str, str] = {}
        for res in functions:
            props = res.properties
            env = {k: str(v) for k, v in resolve((props.get("Environment") or {}).get("Variables") or {}).items()}
            env.update(self.env_overrides)
            for key, value in env.items():
                if environment.get(key, value) != value:
                    raise TemplateError(
                        f"functions disagree on {key} ({environment[key]!r} vs {value!r}); "
                        "they cannot share one process"
                    )
                environment[key] = value
            self.functions[res.logical_id] = FunctionSpec(
                logical_id=res.logical_id,
                name=self.physical[res.logical_id],
                arn=self.arns[res.logical_id],
                handler=props["Handler"],
                memory_mb=int(props.get("MemorySize", 128)),
                timeout_s=int(props.get("Timeout", 3)),
                environment=env,
            )
        self.environment = environment

    def deploy_wiring(self) -> None:
        """Phase two, once the handlers are loaded: functions, state machines, notifications, mappings."""
        resolver = Resolver(self.template, self._ref, self._get_att)
        resolve = resolver.resolve
        lam = self.client("lambda")
        for spec in self.functions.values():
            lam.create_function(
                FunctionName=spec.name,
                Runtime="python3.12",
                Role=self._role_arn,
                Handler=spec.handler,
                Code={"ZipFile": _tiny_zip()},
                MemorySize=spec.memory_mb,
                Timeout=spec.timeout_s,
                Environment={"Variables": dict(spec.environment)},
            )

        sfn = self.client("stepfunctions")
        for res in self.template.of_type("AWS::StepFunctions::StateMachine"):
            definition = state_machine_definition(resolver, res.properties)
            arn = sfn.create_state_machine(
                name=self.physical[res.logical_id],
                definition=json.dumps(definition),
                roleArn=self._role_arn,
                type=res.properties.get("StateMachineType", "STANDARD"),
            )["stateMachineArn"]
            self.state_machines[res.logical_id] = arn

        self._deploy_bucket_notifications(resolve)
        self._deploy_subscriptions(resolve)
        self._deploy_event_source_mappings(resolve)

    def topic_arns(self) -> list[str]:
        return [self.arns[res.logical_id] for res in self.template.of_type("AWS::SNS::Topic")]

    def _deploy_table(self, res: Any, resolve: Callable[[Any], Any]) -> None:
        props = resolve(dict(res.properties))
        name = props.get("TableName") or self._name_for(res.logical_id, limit=255)
        self.physical[res.logical_id] = name
        ddb = self.client("dynamodb")
        indexes = [
            {key: index[key] for key in ("IndexName", "KeySchema", "Projection") if key in index}
            for index in props.get("GlobalSecondaryIndexes") or []
        ]
        table = ddb.create_table(
            TableName=name,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
            **({"GlobalSecondaryIndexes": indexes} if indexes else {}),
        )["TableDescription"]
        self.arns[res.logical_id] = table["TableArn"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )

    def _deploy_queues(self, resolve: Callable[[Any], Any]) -> None:
        sqs = self.client("sqs")
        queues = self.template.of_type("AWS::SQS::Queue")
        for res in queues:
            props = res.properties
            name = resolve(props.get("QueueName")) or self._name_for(res.logical_id, limit=80)
            attributes = {}
            for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
                if key in props:
                    attributes[key] = str(resolve(props[key]))
            if props.get("FifoQueue"):
                attributes["FifoQueue"] = "true"
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            self.physical[res.logical_id] = name
            self.queue_urls[res.logical_id] = url
            self.arns[res.logical_id] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
        for res in queues:
            policy = res.properties.get("RedrivePolicy")
            if policy:
                policy = resolve(policy)
                sqs.set_queue_attributes(
                    QueueUrl=self.queue_urls[res.logical_id], Attributes={"RedrivePolicy": json.dumps(policy)}
                )
                self.dead_letter_queues += [
                    lid for lid, arn in self.arns.items() if arn == policy.get("deadLetterTargetArn")
                ]

    def _deploy_bucket_notifications(self, resolve: Callable[[Any], Any]) -> None:
        s3 = self.client("s3")
        configured: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
        for res in self.template.of_type("Custom::S3BucketNotifications"):
            bucket = resolve(res.properties["BucketName"])
            config = resolve(res.properties.get("NotificationConfiguration") or {})
            for kind, items in config.items():
                configured[bucket][kind].extend(items)
        for res in self.template.of_type("AWS::S3::Bucket"):
            config = res.properties.get("NotificationConfiguration")
            if config:
                for kind, items in resolve(config).items():
                    configured[self.physical[res.logical_id]][kind].extend(items)
        for bucket, config in configured.items():
            for kind in ("QueueConfigurations", "TopicConfigurations"):
                for item in config.get(kind, []):
                    key = "QueueArn" if kind == "QueueConfigurations" else "TopicArn"
                    item.setdefault(key, item.pop("Queue" if kind == "QueueConfigurations" else "Topic", None))
                    if "Event" in item:
                        item["Events"] = [item.pop("Event")]
            unsupported = set(config) - {"QueueConfigurations", "TopicConfigurations"}
            if unsupported:
                raise TemplateError(f"bucket notifications {sorted(unsupported)} are not emulated")
            s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration={k: v for k, v in config.items() if v}
            )
            self.notified_buckets.append(bucket)

    def _deploy_subscriptions(self, resolve: Callable[[Any], Any]) -> None:
        sns = self.client("sns")
        for res in self.template.of_type("AWS::SNS::Subscription"):
            props = resolve(dict(res.properties))
            if props.get("Protocol") == "sqs":
                attributes = {}
                if props.get("RawMessageDelivery"):
                    attributes["RawMessageDelivery"] = "true"
                sns.subscribe(
                    TopicArn=props["TopicArn"], Protocol="sqs", Endpoint=props["Endpoint"], Attributes=attributes
                )

    def _deploy_event_source_mappings(self, resolve: Callable[[Any], Any]) -> None:
        by_name = {spec.name: spec for spec in self.functions.values()}
        by_arn = {spec.arn: spec for spec in self.functions.values()}
        queue_by_arn = {self.arns[r.logical_id]: r.logical_id for r in self.template.of_type("AWS::SQS::Queue")}
        for res in self.template.of_type("AWS::Lambda::EventSourceMapping"):
            props = resolve(dict(res.properties))
            if props.get("Enabled") is False:
                continue
            spec = by_name.get(props["FunctionName"]) or by_arn.get(props["FunctionName"])
            source = props.get("EventSourceArn", "")
            if spec is None or source not in queue_by_arn:
                continue
            self.mappings.append(
                EventSourceMapping(
                    function_name=spec.name,
                    queue_arn=source,
                    queue_url=self.queue_urls[queue_by_arn[source]],
                    batch_size=int(props.get("BatchSize", 10)),
                    report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
                    max_concurrency=int((props.get("ScalingConfig") or {}).get("MaximumConcurrency", 5)),
                )
            )

