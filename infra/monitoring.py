"""CloudWatch alarms to the ops topic, and the ops dashboard.

Alarms: every way an upload can end without the expected result. Thresholds are "any
occurrence": one failed execution or one dead letter is already worth a look. Missing data (no
traffic) is not breaching. Alarm names start with the stage's prefix (``Declick-<stage>-``): the
ops topic's policy lets CloudWatch publish only for alarms with that prefix (infra/notifications.py).

Dashboard ``Declick-<stage>``: uploads, outcomes by status and reason, the vendor's latency and
errors, queue depth, executions and Lambda concurrency (docs/operations.md, "Dashboard").
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.config import StackConfig
from infra.notifications import Notifications
from infra.pipeline import Pipeline
from infra.storage import Storage

PERIOD = Duration.minutes(5)
# The handlers' custom metrics (Powertools EMF, functions/declick_pipeline/observability.py).
NAMESPACE = "Declick"
SERVICE = "declick"

# What the handlers report through Powertools Metrics, as dimensions of the alarms' metrics.
METRICS_NAMESPACE = NAMESPACE
SERVICE_DIMENSION = {"service": SERVICE}
# FAILED causes that are the operators' problem rather than the file's, each alarmed on its own so
# the alarm's name says what to look at (docs/operations.md, runbook).
OPS_FAILURE_CODES = {
    "REMOTE_API_UNAVAILABLE": "the vendor API was unreachable for longer than the outage tolerance",
    "REMOTE_API_BAD_RESPONSE": "the vendor API kept answering something unreadable",
    "REMOTE_API_AUTH_FAILED": "the vendor refused our credentials",
    "SUBMIT_FAILED": "uploads could not be submitted and were reported from the dead-letter queue",
    "INTERNAL_ERROR": "a pipeline step failed in an unexpected way",
    "STEP_TIMED_OUT": "a pipeline step timed out",
}


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        storage: Storage,
        notifications: Notifications,
        pipeline: Pipeline,
    ) -> None:
        super().__init__(scope, construct_id)
        self._prefix = notifications.alarm_name_prefix
        self._action = actions.SnsAction(notifications.ops_topic)
        self.alarms: list[cloudwatch.Alarm] = []

        self._alarm(
            "DeadLettersAlarm",
            storage.dead_letter_queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
            "Uploads reached the submit dead-letter queue: their submission failed repeatedly (each is "
            "reported FAILED by report_dead_letter; messages that stay mean that reporter is failing too).",
        )
        self._alarm(
            "SubmitBacklogAlarm",
            storage.submit_queue.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum"),
            "Uploads have waited more than 30 minutes to be submitted.",
            threshold=1800,
        )
        machine = pipeline.state_machine
        for name, metric, text in (
            ("ExecutionsFailedAlarm", machine.metric_failed(period=PERIOD), "failed"),
            ("ExecutionsTimedOutAlarm", machine.metric_timed_out(period=PERIOD), "timed out"),
            ("ExecutionsAbortedAlarm", machine.metric_aborted(period=PERIOD), "were aborted"),
        ):
            self._alarm(name, metric, f"Pipeline executions {text}.")
        for name, function in pipeline.functions.items():
            self._function_alarms(name, function)
        self._reported_outcome_alarms()
        self.dashboard = self._dashboard(config, storage, pipeline)

    def _reported_outcome_alarms(self) -> None:
        """Alarms on what the handlers report, not on queue depths: report_dead_letter drains the DLQ
        within seconds and a partial-batch failure is not a Lambda error, so neither shows there."""

        def reported(name: str, **dimensions: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=name,
                dimensions_map={**SERVICE_DIMENSION, **dimensions},
                period=PERIOD,
                statistic="Sum",
            )

        self._alarm(
            "DeadLettersReportedAlarm",
            reported("DeadLetters"),
            "Uploads reached the submit dead-letter queue and were reported FAILED (SUBMIT_FAILED); "
            "fix the cause, then `declick replay --failed-since ...` (docs/operations.md).",
        )
        self._alarm(
            "FailedUploadsAlarm",
            reported("Failed"),
            "Uploads ended FAILED (any cause; the FailedByCode metric has the cause as dimension `code`).",
        )
        for code, text in OPS_FAILURE_CODES.items():
            construct_id = "".join(part.capitalize() for part in code.lower().split("_"))
            self._alarm(f"Failed{construct_id}Alarm", reported("FailedByCode", code=code), f"FAILED {code}: {text}.")
        self._alarm(
            "LedgerWriteErrorsAlarm",
            reported("LedgerWriteErrors"),
            "The job ledger could not be written: `declick status` and `declick replay` may be out of date "
            "(notifications were still sent).",
        )

    def _function_alarms(self, name: str, function: lambda_.Function) -> None:
        construct_id = "".join(part.capitalize() for part in name.split("_"))
        self._alarm(
            f"{construct_id}ErrorsAlarm",
            function.metric_errors(period=PERIOD, statistic="Sum"),
            f"The {name} Lambda raised errors.",
        )
        self._alarm(
            f"{construct_id}ThrottlesAlarm",
            function.metric_throttles(period=PERIOD, statistic="Sum"),
            f"The {name} Lambda was throttled (account concurrency exhausted?).",
        )

    def _alarm(self, construct_id: str, metric: cloudwatch.IMetric, description: str, threshold: float = 0) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            alarm_name=f"{self._prefix}{construct_id}",
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(self._action)
        self.alarms.append(alarm)

    # ------------------------------------------------------------------ dashboard

    def _dashboard(self, config: StackConfig, storage: Storage, pipeline: Pipeline) -> cloudwatch.Dashboard:
        def custom(name: str, statistic: str = "Sum", label: str | None = None) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=NAMESPACE,
                metric_name=name,
                dimensions_map={"service": SERVICE},
                statistic=statistic,
                period=PERIOD,
                label=label or name,
            )

        def search(expression: str, label: str) -> cloudwatch.MathExpression:
            return cloudwatch.MathExpression(expression=expression, label=label, period=PERIOD, using_metrics={})

        def notifications_search(condition: str) -> str:
            return (
                f"SEARCH('{{{NAMESPACE},service,status,reason}} MetricName=\"Notifications\" {condition}', 'Sum', 300)"
            )

        region = Stack.of(self).region
        machine = pipeline.state_machine
        functions = pipeline.functions
        width = 8
        dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=config.stack_name,
            default_interval=Duration.hours(6),
        )
        dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=f"# Declick {config.stage}\nEvery upload ends in one notification: SUCCEEDED, FAILED or "
                "REJECTED (docs/operations.md, *Dashboard*). Alarms go to the ops topic.",
                width=24,
                height=2,
            ),
            cloudwatch.GraphWidget(
                title="Uploads",
                left=[
                    storage.submit_queue.metric_number_of_messages_sent(period=PERIOD, label="S3 events queued"),
                    custom("Submitted"),
                    custom("Rejected"),
                ],
                width=width,
                region=region,
            ),
            cloudwatch.GraphWidget(
                title="Outcomes by status",
                # The metric has the dimensions (service, status, reason); a search matches exact
                # dimension sets, so each status is the sum of its reasons.
                left=[
                    search("SUM(" + notifications_search('status="' + status + '"') + ")", status)
                    for status in ("SUCCEEDED", "FAILED", "REJECTED")
                ],
                width=width,
                region=region,
            ),
            cloudwatch.GraphWidget(
                title="Outcomes by reason (FAILED, REJECTED)",
                left=[search(notifications_search('(status="FAILED" OR status="REJECTED")'), "")],
                width=width,
                region=region,
            ),
            cloudwatch.GraphWidget(
                title="Vendor API latency (ms per request)",
                left=[
                    custom("VendorLatency", "p50", "p50"),
                    custom("VendorLatency", "p90", "p90"),
                    custom("VendorLatency", "p99", "p99"),
                ],
                width=width,
                region=region,
            ),
            cloudwatch.GraphWidget(
                title="Vendor API requests and errors",
                left=[
                    custom("VendorRequests", label="requests"),
                    custom("VendorErrors", label="errors (429/5xx/network)"),
                ],
                right=[custom("Polls", label="polls")],
                width=width,
                region=region,
            ),
            cloudwatch.GraphWidget(
                title="Queue depth",
                left=[
                    storage.submit_queue.metric_approximate_number_of_messages_visible(
                        period=PERIOD, statistic="Maximum", label="submit: waiting"
                    ),
                    storage.submit_queue.metric_approximate_number_of_messages_not_visible(
                        period=PERIOD, statistic="Maximum", label="submit: in flight"
                    ),
                    storage.dead_letter_queue.metric_approximate_number_of_messages_visible(
                        period=PERIOD, statistic="Maximum", label="dead letters"
                    ),
                ],
                right=[
                    storage.submit_queue.metric_approximate_age_of_oldest_message(
                        period=PERIOD, statistic="Maximum", label="oldest upload waiting (s)"
                    )
                ],
                width=width,
                region=region,
            ),
            cloudwatch.GraphWidget(
                title="Executions",
                left=[
                    machine.metric_started(period=PERIOD, label="started"),
                    machine.metric_succeeded(period=PERIOD, label="succeeded"),
                    machine.metric_failed(period=PERIOD, label="failed"),
                    machine.metric_timed_out(period=PERIOD, label="timed out"),
                    machine.metric_aborted(period=PERIOD, label="aborted"),
                ],
                width=width,
                region=region,
            ),
            cloudwatch.GraphWidget(
                title="Lambda concurrency (max) and throttles",
                left=[
                    function.metric("ConcurrentExecutions", period=PERIOD, statistic="Maximum", label=name)
                    for name, function in functions.items()
                ],
                right=[
                    function.metric_throttles(period=PERIOD, statistic="Sum", label=f"{name} throttles")
                    for name, function in functions.items()
                ],
                width=width,
                region=region,
            ),
            cloudwatch.GraphWidget(
                title="Time from upload to result (s)",
                left=[
                    custom("SecondsFromUploadToResult", "p50", "p50"),
                    custom("SecondsFromUploadToResult", "p90", "p90"),
                ],
                width=width,
                region=region,
            ),
        )
        return dashboard
