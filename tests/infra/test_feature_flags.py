"""cdk.json sets every feature flag the pinned aws-cdk-lib recommends for new projects.

The list comes from the installed library itself (recommended-feature-flags.json inside its jsii
bundle), so upgrading aws-cdk-lib and forgetting a newly recommended flag fails here.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import aws_cdk

from tests.infra.conftest import REPO

# Recommended flags deliberately left at another value: flag -> why. Empty: every one is taken.
SKIPPED: dict[str, str] = {}


def recommended_flags() -> dict[str, Any]:
    (bundle,) = (Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz")
    with tarfile.open(bundle) as archive:
        member = archive.extractfile("package/recommended-feature-flags.json")
        assert member is not None, f"{bundle.name} has no recommended-feature-flags.json"
        flags: dict[str, Any] = json.load(member)
    return flags


def test_every_recommended_flag_is_set_to_its_recommended_value() -> None:
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    recommended = recommended_flags()
    assert len(recommended) >= 40
    wrong = {k: (context.get(k), v) for k, v in recommended.items() if k not in SKIPPED and context.get(k) != v}
    assert wrong == {}, "cdk.json: (set, recommended)"
    assert set(SKIPPED) <= set(recommended)
    assert len([k for k in recommended if k not in SKIPPED]) >= 40


def test_no_flag_in_cdk_json_is_unknown_to_the_library() -> None:
    # A misspelt flag is silently ignored by CDK; only flags the pinned library recommends are set.
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    assert {k for k in context if ":" in k} <= set(recommended_flags())
