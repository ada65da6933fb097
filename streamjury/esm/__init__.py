"""A local stand-in for AWS Lambda's Kinesis event source mapping: poll shards, invoke in-process.

It sends the handler the exact event shape Lambda sends and applies the same retry rules.
"""
