"""Our engine as the pipeline's click-noise API, on AWS (``-c declick:backend=engine``).

API Gateway HTTP API -> the API Lambda (declick_engine_backend.handlers.api), tasks in DynamoDB,
one SQS work queue per priority band with its own worker concurrency, a worker Lambda that runs
the engine (declick_engine_backend.handlers.work), results in a private S3 bucket handed out as
presigned links. The Basic-auth pair is generated into Secrets Manager and read by both the
pipeline and the API, so nobody ever types it.

Worker limits come from measurement, not hope: `worker_limits` turns the worker's measured cost
per audio second (bench/results/engine_backend.md) into the longest audio one invocation finishes
inside Lambda's 15 minutes with margin; longer audio is refused when the task is created.
"""

from __future__ import annotations

import atexit
import json
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_apigatewayv2_integrations import HttpLambdaIntegration
from constructs import Construct

from infra.bundling import dependencies_layer_code, function_code
from infra.config import StackConfig
from infra.lambda_function import dependencies_layer, traced_function
from infra.nag import acknowledge
from infra.notifications import Notifications
from infra.pipeline import retention_days
from infra.secure_storage import encrypted_queue, encrypted_table, private_bucket

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
MIB = 1024 * 1024

# CPU seconds of the whole worker job (download, verify, decode, declick, MP3 encode) per audio second,
# measured on a 50 MB 44.1 kHz stereo WAV with MP3 output, the costliest common case (MP3 encoding is
# most of it): bench/results/engine_backend.md, section 2. CPU rather than wall time, because the bench
# machine is shared and a Lambda's vCPU is its own.
MEASURED_SECONDS_PER_AUDIO_SECOND = 0.0638
# Cost grows with samples, not seconds: the API only knows the duration, so plan for 48 kHz stereo.
WORST_SAMPLE_RATE_SCALE = 48_000 / 44_100
# A Lambda vCPU is not the bench machine's core, and a task's audio may be harder than the bench's:
# plan for half the measured speed.
SPEED_SAFETY_FACTOR = 2.0
PLANNED_SECONDS_PER_AUDIO_SECOND = MEASURED_SECONDS_PER_AUDIO_SECOND * WORST_SAMPLE_RATE_SCALE * SPEED_SAFETY_FACTOR
WORKER_TIMEOUT_SECONDS = 900  # Lambda's maximum
# Start-up, decoding probe, result upload and bookkeeping, on top of the download's own limit.
WORKER_OVERHEAD_SECONDS = 120
# 2048 MB: more than one full vCPU (1769 MB) for the engine, and room for numpy/scipy; the engine
# streams blocks, so memory does not grow with the audio's length.
WORKER_MEMORY_MB = 2048
# Output bytes per audio second in the worst case kept on /tmp: 48 kHz stereo 16-bit WAV.
_WORST_WAV_BYTES_PER_SECOND = 48_000 * 2 * 2
MAX_EPHEMERAL_MB = 10_240
BANDS = ("high", "normal", "low")


@dataclass(frozen=True)
class WorkerLimits:
    max_audio_seconds: int
    ephemeral_mb: int
    max_processing_seconds: int


def worker_limits(config: StackConfig) -> WorkerLimits:
    """The longest audio a worker finishes within its timeout, and the scratch space it needs."""
    budget = WORKER_TIMEOUT_SECONDS - config.download_timeout_seconds - WORKER_OVERHEAD_SECONDS
    if budget <= 60:
        raise ValueError("declick:downloadTimeoutSeconds leaves the engine worker no time to run")
    by_time = budget / PLANNED_SECONDS_PER_AUDIO_SECOND
    # /tmp holds the input and the result: cap the audio so a WAV result of it fits too.
    scratch_bytes = (MAX_EPHEMERAL_MB - 512) * MIB - config.max_input_bytes
    by_disk = scratch_bytes / _WORST_WAV_BYTES_PER_SECOND
    max_audio = int(min(by_time, by_disk) // 60 * 60)
    needed = (config.max_input_bytes + max_audio * _WORST_WAV_BYTES_PER_SECOND) / MIB + 512
    return WorkerLimits(
        max_audio_seconds=max_audio,
        ephemeral_mb=min(MAX_EPHEMERAL_MB, max(512, math.ceil(needed))),
        # A task still in progress this long after it started lost its worker (timeout, crash).
        max_processing_seconds=WORKER_TIMEOUT_SECONDS + 60,
    )


def engine_credentials(scope: Construct, config: StackConfig) -> secretsmanager.Secret:
    """The Basic-auth pair of the engine backend, generated at deploy time and never typed anywhere."""
    secret = secretsmanager.Secret(
        scope,
        "EngineApiCredentials",
        description='Declick engine backend credentials {"appkey": ..., "appsecret": ...} (pipeline and API)',
        generate_secret_string=secretsmanager.SecretStringGenerator(
            secret_string_template=json.dumps({"appkey": "declick-pipeline"}),
            generate_string_key="appsecret",
            exclude_punctuation=True,
            password_length=40,
        ),
        removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
    )
    acknowledge(
        secret,
        "AwsSolutions-SMG4",
        "The pair is only shared between this stack's pipeline and its own API; both re-read it within "
        "5 minutes (Powertools cache), so operators rotate it by putting a new appsecret "
        "(docs/operations.md) instead of running a rotation Lambda for an internal credential.",
    )
    return secret


def stage_worker_code() -> Path:
    """The worker's asset: its handlers, the contract, and the engine with the shared job code.

    Staged in a fresh directory (removed at exit) so the asset holds exactly these files and its
    hash changes only when they do.
    """
    staging = Path(tempfile.mkdtemp(prefix="declick-engine-worker-"))
    atexit.register(shutil.rmtree, staging, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "tests")
    for package in ("declick_contract", "declick_engine_backend"):
        shutil.copytree(FUNCTIONS_DIR / package, staging / package, ignore=ignore)
    (staging / "declick").mkdir()
    for name in ("__init__.py", "jobs.py"):
        shutil.copy2(ROOT / "declick" / name, staging / "declick" / name)
    shutil.copytree(ROOT / "declick" / "engine", staging / "declick" / "engine", ignore=ignore)
    return staging


class EngineBackend(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        notifications: Notifications,
        credentials: secretsmanager.ISecret,
        access_logs_bucket: s3.IBucket,
        functions_dir: Path = FUNCTIONS_DIR,
    ) -> None:
        super().__init__(scope, construct_id)
        self.limits = limits = worker_limits(config)
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        self._retention = retention_days(config.log_retention_days)
        self._removal = removal

        self.table = encrypted_table(
            self,
            "TasksTable",
            partition_key=dynamodb.Attribute(name="task_id", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expires",
            removal=removal,
        )
        result_days = math.ceil(config.engine_result_ttl_seconds / 86_400) + 1
        self.results_bucket = private_bucket(
            self,
            "ResultsBucket",
            access_logs_bucket=access_logs_bucket,
            access_logs_prefix="engine-results/",
            removal=RemovalPolicy.DESTROY,
            auto_delete_objects=False,
            lifecycle_rules=[
                # The API closes a task (status 5) when its result's TTL passes; this removes what is left.
                s3.LifecycleRule(
                    id="expire-results",
                    expiration=Duration.days(result_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )

        # --- work queues, one per priority band, and their dead-letter queue
        visibility = Duration.seconds(WORKER_TIMEOUT_SECONDS * 6)
        self.dead_letter_queue = encrypted_queue(
            self,
            "WorkDeadLetterQueue",
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.dead_letter_queue,
            "AwsSolutions-SQS3",
            "This is the dead-letter queue of the engine's work queues; an alarm watches its depth and the "
            "tasks whose messages land here end as timed out (status 6) at their deadline.",
        )
        self.queues: dict[str, sqs.Queue] = {}
        for band in BANDS:
            self.queues[band] = encrypted_queue(
                self,
                f"{band.capitalize()}PriorityQueue",
                visibility_timeout=visibility,
                retention_period=Duration.seconds(min(1_209_600, config.engine_max_queue_seconds + 3600)),
                dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=3),
            )
        workers = {
            "high": config.engine_workers_high,
            "normal": config.engine_workers_normal,
            "low": config.engine_workers_low,
        }

        environment = {
            "POWERTOOLS_SERVICE_NAME": "declick",
            "POWERTOOLS_METRICS_NAMESPACE": "Declick",
            "POWERTOOLS_LOG_LEVEL": config.log_level,
            "ENGINE_TASKS_TABLE": self.table.table_name,
            "ENGINE_RESULTS_BUCKET": self.results_bucket.bucket_name,
            "ENGINE_CREDENTIALS_SECRET_ARN": credentials.secret_arn,
            "ENGINE_MAX_INPUT_BYTES": str(config.max_input_bytes),
            "ENGINE_MAX_AUDIO_SECONDS": str(limits.max_audio_seconds),
            "ENGINE_DOWNLOAD_TIMEOUT_SECONDS": str(config.download_timeout_seconds),
            "ENGINE_MAX_QUEUE_SECONDS": str(config.engine_max_queue_seconds),
            "ENGINE_MAX_PROCESSING_SECONDS": str(limits.max_processing_seconds),
            "ENGINE_RESULT_TTL_SECONDS": str(config.engine_result_ttl_seconds),
            # Longer than one poll interval, far shorter than the Lambda role's session.
            "ENGINE_PRESIGN_SECONDS": "3600",
            "ENGINE_RECORD_RETENTION_SECONDS": str(7 * 86_400),
            "ENGINE_MIN_WAIT_SECONDS": str(config.wait_min_seconds),
            "ENGINE_MAX_WAIT_SECONDS": str(config.wait_max_seconds),
            "ENGINE_INITIAL_SECONDS_PER_AUDIO_SECOND": repr(PLANNED_SECONDS_PER_AUDIO_SECOND),
        }
        for band in BANDS:
            environment[f"ENGINE_QUEUE_{band.upper()}_URL"] = self.queues[band].queue_url
            environment[f"ENGINE_WORKERS_{band.upper()}"] = str(workers[band])

        # --- the API function (the pipeline's dependencies layer is enough: no engine here)
        self.api_layer = dependencies_layer(
            self,
            "ApiDependenciesLayer",
            code=dependencies_layer_code(functions_dir),
            description="Declick engine backend API dependencies (functions/requirements.txt)",
        )
        self.api_function = self._function(
            "Api",
            handler="declick_engine_backend.handlers.api.handler",
            code=function_code(functions_dir),
            layer=self.api_layer,
            memory_mb=512,
            timeout=Duration.seconds(15),
            environment=environment,
        )
        self.table.grant(self.api_function, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
        credentials.grant_read(self.api_function)
        for queue in self.queues.values():
            queue.grant_send_messages(self.api_function)
            self.api_function.add_to_role_policy(
                iam.PolicyStatement(actions=["sqs:GetQueueAttributes"], resources=[queue.queue_arn])
            )
        # Presigning signs with the function's role: the link works only if the role may read the result.
        self.api_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:DeleteObject"],
                resources=[self.results_bucket.arn_for_objects("results/*")],
            )
        )

        # --- the worker (the engine and its numpy/scipy/soundfile layer)
        self.engine_layer = dependencies_layer(
            self,
            "EngineDependenciesLayer",
            code=dependencies_layer_code(functions_dir, "engine-requirements.txt"),
            description="Declick engine worker dependencies (functions/engine-requirements.txt)",
        )
        self.worker_function = self._function(
            "Worker",
            handler="declick_engine_backend.handlers.work.handler",
            code=lambda_.Code.from_asset(str(stage_worker_code())),
            layer=self.engine_layer,
            memory_mb=WORKER_MEMORY_MB,
            timeout=Duration.seconds(WORKER_TIMEOUT_SECONDS),
            ephemeral_mb=limits.ephemeral_mb,
            environment={
                **environment,
                # numpy/scipy must not start BLAS threads beside the one the engine runs in.
                "OMP_NUM_THREADS": "1",
                "OPENBLAS_NUM_THREADS": "1",
            },
        )
        self.table.grant(self.worker_function, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
        self.worker_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"],
                resources=[self.results_bucket.arn_for_objects("results/*")],
            )
        )
        for band in BANDS:
            self.worker_function.add_event_source(
                event_sources.SqsEventSource(
                    self.queues[band], batch_size=1, report_batch_item_failures=True, max_concurrency=workers[band]
                )
            )

        # --- the HTTP API
        self.http_api = apigw.HttpApi(
            self,
            "HttpApi",
            description="Declick click-removal API (v3 ecr), served by our engine",
            create_default_stage=False,
        )
        access_logs = logs.LogGroup(self, "ApiAccessLogs", retention=self._retention, removal_policy=removal)
        self.stage = apigw.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(
                rate_limit=config.engine_api_rate_limit, burst_limit=config.engine_api_burst_limit
            ),
        )
        self.stage.node.default_child.access_log_settings = apigw.CfnStage.AccessLogSettingsProperty(
            destination_arn=access_logs.log_group_arn,
            format=json.dumps(
                {
                    "requestId": "$context.requestId",
                    "ip": "$context.identity.sourceIp",
                    "requestTime": "$context.requestTime",
                    "httpMethod": "$context.httpMethod",
                    "routeKey": "$context.routeKey",
                    "status": "$context.status",
                    "responseLength": "$context.responseLength",
                    "integrationError": "$context.integrationErrorMessage",
                }
            ),
        )
        integration = HttpLambdaIntegration("ApiIntegration", self.api_function)
        routes = self.http_api.add_routes(
            path="/v3/pic/ecr/batch", methods=[apigw.HttpMethod.POST], integration=integration
        ) + self.http_api.add_routes(
            path="/v3/pic/ecr/result/{task_id}", methods=[apigw.HttpMethod.GET], integration=integration
        )
        for route in routes:
            acknowledge(
                route,
                "AwsSolutions-APIG4",
                "The vendor contract authenticates with HTTP Basic and answers a failure with its own envelope "
                "(code 1001, HTTP 401); the API Lambda checks the pair in constant time against Secrets Manager. "
                "An API Gateway authorizer could not produce that answer.",
            )
        self.url = self.http_api.api_endpoint

        self._alarms(config, notifications)
        self._acknowledge_wildcards()

    # ------------------------------------------------------------------ parts

    def _function(
        self,
        name: str,
        *,
        handler: str,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        memory_mb: int,
        timeout: Duration,
        environment: dict[str, str],
        ephemeral_mb: int = 512,
    ) -> lambda_.Function:
        return traced_function(
            self,
            name,
            handler=handler,
            code=code,
            layers=[layer],
            memory_mb=memory_mb,
            timeout=timeout,
            ephemeral_mb=ephemeral_mb,
            environment=environment,
            retention=self._retention,
            removal=self._removal,
            description=f"Declick engine backend: {name.lower()}",
            role_description=f"Declick engine backend {name.lower()} Lambda",
            layers_named="dependencies layers",
        )

    def _alarms(self, config: StackConfig, notifications: Notifications) -> None:
        action = actions.SnsAction(notifications.ops_topic)
        period = Duration.minutes(5)
        self.alarms: list[cloudwatch.Alarm] = []

        def alarm(construct_id: str, metric: cloudwatch.IMetric, description: str, threshold: float = 0) -> None:
            created = cloudwatch.Alarm(
                self,
                construct_id,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            created.add_alarm_action(action)
            self.alarms.append(created)

        alarm(
            "WorkerErrorsAlarm",
            self.worker_function.metric_errors(period=period, statistic="Sum"),
            "The engine worker Lambda raised errors (timeouts, crashes, AWS calls failing): tasks may be stuck.",
        )
        alarm(
            "ApiErrorsAlarm",
            self.api_function.metric_errors(period=period, statistic="Sum"),
            "The engine backend's API Lambda raised errors.",
        )
        alarm(
            "WorkDeadLettersAlarm",
            self.dead_letter_queue.metric_approximate_number_of_messages_visible(period=period, statistic="Maximum"),
            "Engine work messages reached the dead-letter queue: their worker failed three times.",
        )
        for band, queue in self.queues.items():
            # A task waiting this long will end as status 6 (timed out): it is stuck, not just queued.
            alarm(
                f"{band.capitalize()}StuckTasksAlarm",
                queue.metric_approximate_age_of_oldest_message(period=period, statistic="Maximum"),
                f"Engine tasks of the {band} priority band have waited over half their queue deadline.",
                threshold=max(300, config.engine_max_queue_seconds / 2),
            )

    def _acknowledge_wildcards(self) -> None:
        stack = Stack.of(self)
        bucket = f"<{stack.get_logical_id(self.results_bucket.node.default_child)}.Arn>"
        for function in (self.api_function, self.worker_function):
            acknowledge(
                function.role,
                "AwsSolutions-IAM5",
                "Results are stored under results/<task id>.<ext>: object actions are granted on that prefix of "
                "the engine's own results bucket only.",
                findings=[f"Resource::{bucket}/results/*"],
            )
