"""CloudWatch alarms to the ops topic: every way an upload can end without the expected result.

Thresholds are "any occurrence": the pipeline handles a few uploads per hour, so one failed
execution or one dead letter is already worth a look. Missing data (no traffic) is not breaching.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.notifications import Notifications
from infra.pipeline import Pipeline
from infra.storage import Storage

PERIOD = Duration.minutes(5)


class Monitoring(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, storage: Storage, notifications: Notifications, pipeline: Pipeline
    ) -> None:
        super().__init__(scope, construct_id)
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
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(self._action)
        self.alarms.append(alarm)
