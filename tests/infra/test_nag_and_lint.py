"""cdk-nag (AwsSolutions) finds nothing unacknowledged, every acknowledgment says why, cfn-lint is clean."""

from __future__ import annotations

from aws_cdk import Validations
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint

from tests.infra.conftest import Synth


def acknowledgments(synth: Synth) -> dict[tuple[str, str], str]:
    """(construct path, rule id) -> reason, for every acknowledgment in the stack."""
    found = {}
    for construct in synth.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                found.update({(construct.node.path, rule): reason for rule, reason in entry.data.items()})
    return found


def test_cdk_nag_reports_nothing_unacknowledged(synth: Synth, custom: Synth) -> None:
    # app.synth() in the fixtures already stops on any unacknowledged finding; this names them if one slips.
    for variant in (synth, custom):
        acked = acknowledgments(variant)
        report = AwsSolutionsChecks().validate_scope(variant.stack)
        open_findings = [
            (violation.rule_name, resource.construct_path)
            for violation in report.violations
            for resource in violation.violating_resources
            if not any(
                rule == f"AwsSolutions::{violation.rule_name}" and f"{resource.construct_path}/".startswith(f"{path}/")
                for path, rule in acked
            )
        ]
        assert open_findings == []


def test_every_acknowledgment_states_a_reason(synth: Synth) -> None:
    acked = acknowledgments(synth)
    assert any("AwsSolutions-APIG4" in rule for _, rule in acked), "expected the public routes' acknowledgment"
    for (path, rule), reason in acked.items():
        assert rule.startswith("AwsSolutions::"), (path, rule)
        assert len(reason.split()) >= 8, (path, rule)


def test_cfn_lint_finds_nothing(synth: Synth, custom: Synth) -> None:
    for variant in (synth, custom):
        matches = lint(
            variant.path.read_text(),
            config=ManualArgs(
                regions=["us-east-1", "eu-west-1"],
                # W3005: CDK adds an explicit DependsOn on the function's role next to the GetAtt; harmless.
                ignore_checks=["W3005"],
            ),
        )
        assert [str(m) for m in matches] == []
