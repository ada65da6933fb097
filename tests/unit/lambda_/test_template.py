"""``template.yaml`` (AWS SAM) declares what ``streamjury deploy lambda`` creates, no more, no less.

Each function's Kinesis event source settings and environment variable names are compared with
what ``deploy`` sends, so the two ways of deploying cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from consumers.lambda_settings import (
    DEFAULT_METRICS_NAMESPACE,
    DEFAULT_SERVICE,
    ENV_LOG_LEVEL,
    ENV_METRICS_NAMESPACE,
    ENV_SERVICE,
    ENV_TRACING,
    FUNCTION_ENV_VARS,
    LAMBDA_MODEL_CACHE,
)
from consumers.registry import CHECKS
from streamjury.deploy.alarms import AlarmThresholds, alarm_requests
from streamjury.deploy.lambda_deploy import function_environment
from streamjury.deploy.mapping import mapping_request
from streamjury.deploy.role import TRACING_ACTIONS, RoleNeeds, policy_document
from streamjury.esm.config import MappingSettings

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


class CloudFormationLoader(yaml.SafeLoader):
    """A YAML loader that keeps ``!Ref x`` / ``!GetAtt a.b`` / ``!Sub s`` as ``{"!Ref": x}``."""


def _tagged(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {f"!{tag_suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _tagged)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    text = TEMPLATE.read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.load(text, CloudFormationLoader)  # a SafeLoader subclass
    return loaded


@pytest.fixture(scope="module")
def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Check name -> the function's properties, with the Globals merged in as SAM does."""
    defaults = template["Globals"]["Function"]
    found: dict[str, dict[str, Any]] = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = {**defaults, **resource["Properties"]}
        properties["Environment"] = {
            "Variables": {
                **defaults["Environment"]["Variables"],
                **resource["Properties"]["Environment"]["Variables"],
            }
        }
        found[properties["Environment"]["Variables"]["STREAMJURY_CHECK"]] = properties
    return found


def kinesis_event(properties: dict[str, Any]) -> dict[str, Any]:
    [event] = properties["Events"].values()
    assert event["Type"] == "Kinesis"
    found: dict[str, Any] = event["Properties"]
    return found


def test_every_check_has_exactly_one_function(functions: dict[str, dict[str, Any]]) -> None:
    assert sorted(functions) == sorted(CHECKS)


def test_each_function_reads_the_stream_of_its_check(functions: dict[str, dict[str, Any]]) -> None:
    for check, properties in functions.items():
        stream = kinesis_event(properties)["Stream"]
        assert stream == {"!GetAtt": f"{CHECKS[check].stream.capitalize()}Stream.Arn"}, check


def test_event_source_settings_are_the_ones_deploy_sends(
    functions: dict[str, dict[str, Any]],
) -> None:
    sent = mapping_request(MappingSettings(), on_failure_arn="arn:aws:sqs:us-east-1:1:on-failure")
    for check, properties in functions.items():
        declared = dict(kinesis_event(properties))
        declared.pop("Stream")
        assert declared.keys() == sent.keys(), check
        assert declared.pop("DestinationConfig")["OnFailure"]["Destination"], check
        for name, value in declared.items():
            assert value == sent[name], f"{check}: {name} is {value!r}, deploy sends {sent[name]!r}"


def test_environment_variable_names_are_the_ones_deploy_sets(
    functions: dict[str, dict[str, Any]],
) -> None:
    sent = function_environment("duration", "verdicts", "kinesis:deadletter", "s3://bucket/models")
    assert set(sent) == set(FUNCTION_ENV_VARS)
    for check, properties in functions.items():
        variables = properties["Environment"]["Variables"]
        assert set(variables) == set(sent), check
        assert variables["STREAMJURY_MODEL_CACHE"] == str(LAMBDA_MODEL_CACHE)


def test_functions_are_images_with_the_handler_role_it_needs(
    template: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    for check, properties in functions.items():
        assert properties["PackageType"] == "Image", check
        role = template["Resources"][properties["Role"]["!GetAtt"].removesuffix(".Arn")]
        statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        read = next(
            s for s in statements if isinstance(s, dict) and s.get("Sid") == "ReadInputStream"
        )
        assert read["Resource"] == kinesis_event(properties)["Stream"], check
        assert "kinesis:PutRecords" in str(statements)
        assert all(
            "*" not in str(statement.get("Resource", "")).replace("streamjury-*", "")
            for statement in statements
            if isinstance(statement, dict) and statement.get("Sid") != "Tracing"
        ), f"{check}: a wildcard resource is not least privilege"


def test_roles_grant_what_deploy_grants_and_x_ray_alone_takes_a_wildcard(
    template: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    needs = RoleNeeds(
        function_name="streamjury-duration",
        stream_arn="arn:aws:kinesis:us-east-1:123456789012:stream/rides",
        output_stream="verdicts",
        deadletter_target="kinesis:deadletter",
        on_failure_arn="arn:aws:sqs:us-east-1:123456789012:on-failure",
        models="s3://bucket/models",
    )
    granted = {s["Sid"]: s for s in policy_document(needs)["Statement"]}
    for check, properties in functions.items():
        role = template["Resources"][properties["Role"]["!GetAtt"].removesuffix(".Arn")]
        statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        declared = {s["Sid"]: s for s in _statements(statements)}
        assert declared.keys() == granted.keys(), check
        for sid, statement in declared.items():
            actions = statement["Action"]
            expected = granted[sid]["Action"]
            assert _as_set(actions) == _as_set(expected), f"{check}: {sid}"
        assert declared["Tracing"]["Resource"] == "*"
        assert set(declared["Tracing"]["Action"]) == set(TRACING_ACTIONS)


def test_every_function_traces_and_sets_the_powertools_environment(
    template: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    parameters = template["Parameters"]
    for check, properties in functions.items():
        assert properties["Tracing"] == "Active", check
        variables = properties["Environment"]["Variables"]
        assert variables[ENV_TRACING] == "true", check
        assert variables[ENV_SERVICE] == {"!Ref": "ServiceName"}, check
        assert variables[ENV_METRICS_NAMESPACE] == {"!Ref": "MetricsNamespace"}, check
        assert variables[ENV_LOG_LEVEL] == {"!Ref": "LogLevel"}, check
    assert parameters["ServiceName"]["Default"] == DEFAULT_SERVICE
    assert parameters["MetricsNamespace"]["Default"] == DEFAULT_METRICS_NAMESPACE


def test_each_function_has_the_two_alarms_deploy_creates(
    template: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    alarms = [
        resource["Properties"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    ]
    defaults = AlarmThresholds()
    parameters = template["Parameters"]
    assert parameters["IteratorAgeAlarmMs"]["Default"] == defaults.iterator_age_ms
    assert parameters["DeadLetterAlarmCount"]["Default"] == defaults.dead_letters
    static = ("MetricName", "Statistic", "Period", "EvaluationPeriods")
    static += ("ComparisonOperator", "TreatMissingData", "Unit")
    for check in functions:
        [age_wanted, letters_wanted] = alarm_requests(
            f"streamjury-{check}", check, DEFAULT_SERVICE, DEFAULT_METRICS_NAMESPACE
        )
        [age] = [a for a in alarms if a["AlarmName"]["!Sub"].endswith(f"-{check}-iterator-age")]
        [letters] = [a for a in alarms if a["AlarmName"]["!Sub"].endswith(f"-{check}-dead-letters")]
        for name in static:
            assert age[name] == age_wanted[name], f"{check}: iterator age {name}"
            assert letters[name] == letters_wanted[name], f"{check}: dead letters {name}"
        assert age["Namespace"] == age_wanted["Namespace"] == "AWS/Lambda"
        assert age["Threshold"] == {"!Ref": "IteratorAgeAlarmMs"}
        assert letters["Namespace"] == {"!Ref": "MetricsNamespace"}
        assert letters["Threshold"] == {"!Ref": "DeadLetterAlarmCount"}
        assert [d["Name"] for d in letters["Dimensions"]] == [
            d["Name"] for d in letters_wanted["Dimensions"]
        ]
        assert letters["Dimensions"][1]["Value"] == check


def _statements(statements: list[Any]) -> list[dict[str, Any]]:
    """Statements with ``!If [cond, statement, NoValue]`` resolved to the statement."""
    found: list[dict[str, Any]] = []
    for statement in statements:
        if "!If" in statement:
            statement = statement["!If"][1]
        found.append(statement)
    return found


def _as_set(actions: str | list[str]) -> set[str]:
    return {actions} if isinstance(actions, str) else set(actions)
