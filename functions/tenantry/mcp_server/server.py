"""Build the MCP server with every tool, once per container.

`TenantMCPServer` adds what every tool call needs, in one place: the plan's
feature gate (tools the plan lacks are hidden from tools/list and refused on
tools/call), admission against the monthly quota and the per-minute rate
(one atomic write), metering of the outcome, metrics and the audit of refusals.
It also holds every tool to the ChatGPT app-review bar at build time (explicit
read-only, destructive and open-world hints, a structured output schema), and
hands widget tools the tenant's branding in the result's `_meta` (docs/chatgpt.md).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from mcp.server.caching import CACHEABLE_METHODS, CacheHint
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.context import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult, GetPromptResult, Icon, InputRequiredResult, ToolAnnotations
from mcp.types import Tool as MCPTool

from tenantry.audit import AuditEvent, AuditLog, AuditTally
from tenantry.errors import (
    AdmissionContentionError,
    LimitExceededError,
    QuotaExceededError,
    RegistryChangedError,
    TenantAccessError,
    TenantBlockedError,
    TenantMovingError,
    dependency_error,
)
from tenantry.mcp_server.deferred import DeferredTools
from tenantry.mcp_server.widgets import BRANDING_META_KEY
from tenantry.metering.meter import UsageMeter
from tenantry.metering.placement import Placed, PlacementMarks
from tenantry.metering.tool_codes import TOOL_CODES, valid_code
from tenantry.observability import emit_metric, get_logger, log_context, traced
from tenantry.tenancy.context import TenantContext, current_tenant, tenant_scope
from tenantry.tenancy.plans import FEATURES, EffectiveConfig, Feature, cheapest_plan_with

__all__ = ["PRIVATE_LISTS", "TenantMCPServer", "ToolCodeError", "ToolFeatureError", "ToolMetadataError"]

_Fn = TypeVar("_Fn", bound=Callable[..., Any])
_ACCESS_DENIED = -32001  # the JSON-RPC code the gateway uses for tenant refusals


class ToolFeatureError(TypeError):
    """A tool registered without a (known) plan feature: a programming error, caught at build time."""


class ToolCodeError(TypeError):
    """A tool without a usage code (metering/tool_codes.py), or codes that clash: caught at build time."""


class ToolMetadataError(TypeError):
    """A tool without the hints or output schema app review needs: a programming error, caught at build time."""


# ChatGPT's app review wants every tool to state these three; leaving one unset lets a host assume the worst.
REQUIRED_HINTS = {
    "readOnlyHint": "read_only_hint",
    "destructiveHint": "destructive_hint",
    "openWorldHint": "open_world_hint",
}

# tools/list and resources/list differ per tenant plan, so no cacheable result may be shared between
# authorization contexts (2026-07-28 `cacheScope`); ttl 0 because a plan change must show at once.
PRIVATE_LISTS: dict[Any, CacheHint] = {method: CacheHint(ttl_ms=0, scope="private") for method in CACHEABLE_METHODS}

BrandingProvider = Callable[[], dict[str, Any]]


INSTRUCTIONS = (
    "Tools for one fitness studio's customer records. Every call acts for the studio of the signed-in "
    "user only; there is no way to reach another studio's data."
)


class TenantMCPServer(MCPServer):
    def __init__(
        self,
        usage: UsageMeter,
        audit: AuditLog,
        tracing: bool = False,
        branding: BrandingProvider | None = None,
        on_blocked: Callable[[str], None] | None = None,
        placement: PlacementMarks | None = None,
        home_allowed: Callable[[str, str], bool] | None = None,
        success_log_sample: float = 1.0,
        sample: Callable[[], float] = random.random,
        refresh: Callable[[TenantContext, float], TenantContext] | None = None,
        status_cache_seconds: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Each tool is built when first needed (deferred.py): tools/call on a fresh container builds one.
        self._deferred = DeferredTools(check=_check_built)
        self._tool_manager = self._deferred
        self._usage = usage
        self._audit = audit
        self.refusals = AuditTally(audit)
        self._tracing = tracing
        self._branding = branding
        # Told when admission finds a tenant marked (suspended, offboarding): drop its cached record.
        self._on_blocked = on_blocked
        # The tenant again from a registry record at most so many seconds old (TenantResolver.refreshed):
        # after admission found the cached record stale, and before refusing a tool the plan lacks.
        self._refresh = refresh
        self._status_cache_seconds = status_cache_seconds
        # Moves (metering/placement.py): writers register during a copy; a new home must be one of the tenant's.
        self._placement = placement
        self._home_allowed = home_allowed
        # Tools that change data (readOnlyHint false): paused in a move's final seconds, tracked during its copy.
        self.write_tools: set[str] = set()
        # A failed call is always logged; a successful one with this probability, its line carrying
        # `weight` (1 / probability) so per-tenant sums over the logs estimate the true counts.
        self._success_sample = success_log_sample
        self._sample = sample
        # The plan feature of every tool, declared where the tool is registered (see `tool`).
        self.tool_features: dict[str, Feature] = {}
        # Tools whose result a widget renders (their `_meta.ui.resourceUri`): they get the tenant's branding.
        self.widget_tools: set[str] = set()
        self._registered: frozenset[str] | None = None  # tools are fixed once the server is built

    def tool(  # type: ignore[override]
        self, name: str | None = None, *, feature: Feature, **options: Any
    ) -> Callable[[_Fn], _Fn]:
        """Register a tool, and the plan feature it belongs to (required: no tool outside every plan)."""
        if feature not in FEATURES:
            raise ToolFeatureError(f"tool {name or '?'}: unknown plan feature {feature!r}; one of {FEATURES}")
        register = super().tool(name, **options)
        widget = ((options.get("meta") or {}).get("ui") or {}).get("resourceUri")

        def decorator(fn: _Fn) -> _Fn:
            tool_name = name or fn.__name__
            _require_hints(tool_name, options.get("annotations"))
            self.tool_features[tool_name] = feature
            if widget:
                self.widget_tools.add(tool_name)
            annotations = options.get("annotations")
            if annotations is not None and annotations.read_only_hint is False:
                self.write_tools.add(tool_name)
            return register(fn)

        return decorator

    def add_tool(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: ToolAnnotations | None = None,
        icons: list[Icon] | None = None,
        meta: dict[str, Any] | None = None,
        structured_output: bool | None = None,
    ) -> None:
        """Register a tool to be built when first needed (the SDK builds it at once)."""
        build = partial(
            Tool.from_function,
            fn,
            name=name,
            title=title,
            description=description,
            annotations=annotations,
            icons=icons,
            meta=meta,
            structured_output=structured_output,
        )
        self._deferred.defer(name or fn.__name__, annotations, build)

    def check_tool_features(self, *, build: bool = True) -> None:
        """Fail the build if a tool lacks a plan feature (it would be hidden from every plan), the hints app
        review needs, or a usage code (metering/tool_codes.py); with `build`, build every tool, which
        checks the output schema app review needs (a tool built later is checked when it is built).
        """
        names = self._deferred.names()
        unmapped = sorted(name for name in names if name not in self.tool_features)
        if unmapped:
            raise ToolFeatureError(
                f"tools registered without a plan feature: {', '.join(unmapped)}; register them with "
                "server.tool(feature=...) (docs/extending.md)"
            )
        for name in names:
            _require_hints(name, self._deferred.annotations(name))
        if build:
            self.build_tools()
        _require_usage_codes(names)

    def built_tools(self) -> list[str]:
        """The tools built so far (the others are registered, and built when first needed)."""
        return self._deferred.built()

    def build_tools(self) -> None:
        """Build every tool now (a SnapStart or provisioned init: the snapshot then holds them built)."""
        self._deferred.build_all()

    def allows(self, config: EffectiveConfig, tool: str) -> bool:
        feature = self.tool_features.get(tool)
        return feature is not None and feature in config.features

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, context: Context[Any, Any] | None = None
    ) -> GetPromptResult | InputRequiredResult:
        """An unknown prompt is Invalid params (-32602), as the prompts spec says for an invalid name.

        The SDK turns it into a bare ValueError: code 0 in the handshake era, -32603 Internal error at
        2026-07-28, which reads as our fault. Tenantry registers no prompts, so every name is unknown.
        """
        if self._prompt_manager.get_prompt(name) is None:
            raise MCPError(INVALID_PARAMS, f"Unknown prompt: {name[:200]}", data={"name": name[:200]})
        return await super().get_prompt(name, arguments, context)

    async def list_tools(self) -> list[MCPTool]:
        config = current_tenant().config
        return [tool for tool in await super().list_tools() if self.allows(config, tool.name)]

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        tenant = current_tenant()
        if self._registered is None:
            self._registered = frozenset(self._deferred.names())  # names only: builds no tool
        if name not in self._registered:
            return await super().call_tool(name, arguments, context)  # the SDK's "Unknown tool" answer
        writes = name in self.write_tools
        try:
            if not self.allows(tenant.config, name):
                # A refused call never reaches the admission write that would show a newer record: it
                # re-reads one older than the status window instead (one read per window per container),
                # so a plan upgrade or a feature turned on is met at once, however long the cache lives.
                tenant = self._fresher(tenant, self._status_cache_seconds)
                self._require_feature(tenant, name)
            tenant, placed = self._admit(tenant, name, writes)
        except TenantMovingError as exc:
            emit_metric("TenantMoving")
            raise ToolError(str(exc)) from exc
        except TenantBlockedError as exc:
            emit_metric("TenantBlocked")
            if self._on_blocked is not None:
                self._on_blocked(tenant.tenant_id)
            raise MCPError(_ACCESS_DENIED, str(exc)) from exc
        except TenantAccessError as exc:
            # The record re-read after a change refuses the tenant here (e.g. this endpoint's plans).
            raise MCPError(_ACCESS_DENIED, str(exc)) from exc
        except AdmissionContentionError as exc:
            # Not a limit: nothing refused the tenant, the counter was too busy to decide. Not audited.
            emit_metric("AdmissionContention")
            raise ToolError(str(exc)) from exc
        except (ClientError, BotoCoreError) as exc:
            # Admission could not be decided: the call did not run and was not counted.
            error = dependency_error(exc, "dynamodb")
            emit_metric("DependencyErrors")
            get_logger().warning("admission failed", exc_info=True, extra={"event": "dependency_error"})
            raise ToolError(str(error)) from exc
        except LimitExceededError as exc:
            quota = isinstance(exc, QuotaExceededError)
            self._refused(tenant, name, "quota" if quota else "rate", exc.code)
            raise ToolError(str(exc)) from exc
        month = placed.month
        scoped, writer = self._placed(tenant, placed, writes)
        started = time.perf_counter()
        failed = True
        with (
            tenant_scope(scoped),
            log_context(tool=name),
            traced(f"## tool {name}", self._tracing, tool=name, plan=tenant.plan, tenant_id=tenant.tenant_id),
        ):
            try:
                result = await super().call_tool(name, arguments, context)
                failed = isinstance(result, CallToolResult) and bool(result.is_error)
                if not failed and name in self.widget_tools and isinstance(result, CallToolResult):
                    result = self._with_branding(result)
                return result
            finally:
                if writer is not None and self._placement is not None:
                    self._placement.leave_write(tenant.tenant_id, month, writer)
                elapsed_ms = (time.perf_counter() - started) * 1000
                self._usage.record(tenant.tenant_id, name, elapsed_ms, failed, month)
                emit_metric("ToolCalls")
                if failed:
                    emit_metric("ToolErrors")
                self._log_call(elapsed_ms, failed)

    def _require_feature(self, tenant: TenantContext, name: str) -> None:
        if self.allows(tenant.config, name):
            return
        feature = self.tool_features.get(name)
        plan = cheapest_plan_with(feature) if feature else None
        # Audited like quota and rate refusals (one record per tenant, tool and minute, with a count):
        # the audit line is where the dashboard reads a refusal's reason (observability.METRIC_NAMES).
        self._refused(tenant, name, "feature", "feature_denied")
        where = f"the {plan} plan and above" if plan else "no plan"
        raise ToolError(
            f"{name} is not available on your {tenant.plan} plan; it is part of {where}. "
            "Ask your administrator to upgrade."
        )

    def _refused(self, tenant: TenantContext, name: str, resource: str, reason: str) -> None:
        """Count a refused call (one `Refused` metric) and audit it, grouped per tenant, tool and minute."""
        emit_metric("Refused")
        self.refusals.add(
            AuditEvent(
                tenant_id=tenant.tenant_id,
                principal=tenant.principal,
                action=f"tools/call:{name}",
                resource=resource,
                outcome="denied",
                reason=reason,
                request_id=tenant.request_id,
            )
        )

    def _fresher(self, tenant: TenantContext, max_age: float) -> TenantContext:
        """`tenant` from a registry record at most `max_age` s old (unchanged without a refresh hook)."""
        return tenant if self._refresh is None else self._refresh(tenant, max_age)

    def _admit(self, tenant: TenantContext, name: str, writes: bool) -> tuple[TenantContext, Placed]:
        """Admit the call; if an operator changed the tenant since this container cached it, on the new record.

        The admission write refuses (uncounted) a context older than the registry version stamped on
        the usage item, so no call runs on a plan, feature, quota or branding that was changed: the
        record is read again, the feature gate and admission decided again on it. The second
        admission does not check the version (its record was just read), so it cannot loop.
        """
        try:
            return tenant, self._usage.admit_call(tenant, name, writes)
        except RegistryChangedError:
            fresh = self._fresher(tenant, 0.0).model_copy(update={"registry_version": None})
            self._require_feature(fresh, name)
            return fresh, self._usage.admit_call(fresh, name, writes)

    def _log_call(self, elapsed_ms: float, failed: bool) -> None:
        """Errors in full; successes sampled (CloudWatch ingestion is billed per byte, docs/operations.md)."""
        if failed:
            weight = 1.0
        elif self._success_sample > 0 and self._sample() < self._success_sample:
            weight = 1 / self._success_sample
        else:
            return
        duration = round(elapsed_ms, 2)
        extra = {
            "event": "tool_call",
            "duration_ms": duration,
            "error": int(failed),
            "weight": round(weight, 3),
            "weighted_ms": round(duration * weight, 2),
        }
        get_logger().info("tool call", extra=extra)

    def _placed(self, tenant: TenantContext, placed: Placed, writes: bool) -> tuple[TenantContext, str | None]:
        """The tenant context this call runs in, after what admission said of the tenant's placement.

        A home other than the cached record's table means the tenant was moved: the call goes
        there and the stale record is dropped. During a copy a write registers itself (the mover
        waits for it before its final catch-up) and its keys are marked (isolation/tracking.py).
        """
        updates: dict[str, Any] = {}
        if placed.home and placed.home != tenant.data_table:
            if self._home_allowed is not None and not self._home_allowed(tenant.tenant_id, placed.home):
                # Fail closed: a home that is not one of this tenant's tables is never used.
                raise ToolError("Your studio's data is not reachable right now; try again in a minute.")
            updates["data_table"] = placed.home
            if self._on_blocked is not None:
                self._on_blocked(tenant.tenant_id)
        writer = None
        if writes and placed.move == "copy" and self._placement is not None:
            try:
                writer = self._placement.enter_write(tenant.tenant_id, placed.month)
            except TenantMovingError as exc:
                emit_metric("TenantMoving")
                raise ToolError(str(exc)) from exc
            updates["moving"] = True
        return (tenant.model_copy(update=updates) if updates else tenant), writer

    def _with_branding(self, result: CallToolResult) -> CallToolResult:
        """The widget is one template for every tenant; the tenant's look travels with each result."""
        if self._branding is None:
            return result
        meta = {**(result.meta or {}), BRANDING_META_KEY: self._branding()}
        return result.model_copy(update={"meta": meta})


def _check_built(tool: Tool) -> None:
    _require_hints(tool.name, tool.annotations)
    if tool.output_schema is None:
        raise ToolMetadataError(f"tool {tool.name} has no output schema; return a pydantic model (docs/chatgpt.md)")


def _require_hints(tool: str, annotations: ToolAnnotations | None) -> None:
    missing = [
        hint for hint, field in REQUIRED_HINTS.items() if annotations is None or getattr(annotations, field) is None
    ]
    if missing:
        raise ToolMetadataError(
            f"tool {tool} must declare {', '.join(missing)} explicitly in its ToolAnnotations (docs/chatgpt.md)"
        )


def _require_usage_codes(names: list[str]) -> None:
    """Every tool has a valid code of its own, and no tool is named like another's code (usage items mix both)."""
    missing = sorted(name for name in names if name not in TOOL_CODES)
    if missing:
        raise ToolCodeError(
            f"tools without a usage code: {', '.join(missing)}; add each to TOOL_CODES in "
            "tenantry/metering/tool_codes.py (docs/extending.md)"
        )
    codes = {name: TOOL_CODES[name] for name in names}
    if len(set(codes.values())) != len(codes):
        raise ToolCodeError(f"tools share a usage code: {codes}")
    for name, code in codes.items():
        if not valid_code(code):
            raise ToolCodeError(f"tool {name}: usage code {code!r} is not 1-4 lowercase letters or digits")
        if code in names and code != name:
            raise ToolCodeError(f"tool {code} is named like the usage code of {name}")
