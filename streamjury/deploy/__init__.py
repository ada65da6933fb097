"""Deploys a check as an AWS Lambda function with a Kinesis event source mapping, idempotently.

Shares its event source mapping settings with the local runner (``streamjury.esm``).
"""
