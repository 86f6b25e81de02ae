"""The click-removal API on AWS: API Gateway + Lambda, tasks in DynamoDB, work through SQS.

The same contract as `declick engine serve` (declick_contract), so the pipeline talks to it
exactly as it talks to the vendor. `handlers.api` answers the two endpoints, `handlers.work`
runs the engine on one task (declick.jobs, the service's own job code).
"""
