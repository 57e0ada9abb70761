"""Module identifiers the replay knows, and the names a Make user sees for them in the editor."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hallsim.harness.make._blueprint import Module

ROUTER = "builtin:BasicRouter"
HTTP_V3 = "http:ActionSendData"
HTTP_V3_API_KEY = "http:ActionSendDataAPIKeyAuth"
HTTP_V3_BASIC = "http:ActionSendDataBasicAuth"
HTTP_V3_OAUTH = "http:ActionSendDataOAuth"
HTTP_GET_FILE = "http:ActionGetFile"
HTTP_V3_CLIENT_CERT = "http:ActionSendDataClientCertAuth"
HTTP_RESOLVE_URL = "http:ActionResolveTargetURL"
HTTP_V4 = "http:MakeRequest"
#: the HTTP app's modules the replay sends real requests for (apps.make.com "HTTP", "HTTP (legacy)")
HTTP_MODULES = frozenset(
    {
        HTTP_V3,
        HTTP_V3_API_KEY,
        HTTP_V3_BASIC,
        HTTP_V3_OAUTH,
        HTTP_V3_CLIENT_CERT,
        HTTP_GET_FILE,
        HTTP_RESOLVE_URL,
        HTTP_V4,
    }
)
FEEDER = "builtin:BasicFeeder"
AGGREGATORS = frozenset({"builtin:BasicAggregator", "util:TextAggregator", "util:NumericAggregator"})
#: Make's own apps (no connection to a third party): a module of theirs the replay does not emulate is
#: named as unknown, never run silently as a no-op
BUILT_IN_APPS = frozenset({"builtin", "util", "json", "regexp", "http", "datastore", "gateway", "xml", "csv"})
DIRECTIVES = frozenset(
    {"builtin:Break", "builtin:Commit", "builtin:Ignore", "builtin:Resume", "builtin:Rollback"}
)
#: modules that cost no operation (make.md: routers and error handlers cost none)
FREE = frozenset({ROUTER, "builtin:BasicIfElse", "builtin:BasicMerge"}) | DIRECTIVES

_DISPLAY = {
    "gateway:CustomWebHook": "Webhooks - Custom webhook",
    "gateway:WebhookRespond": "Webhooks - Webhook response",
    HTTP_V3: "HTTP - Make a request",
    HTTP_V3_API_KEY: "HTTP - Make an API key Auth request",
    HTTP_V3_BASIC: "HTTP - Make a Basic Auth request",
    HTTP_V3_OAUTH: "HTTP - Make an OAuth 2.0 request",
    HTTP_GET_FILE: "HTTP - Get a file",
    HTTP_V3_CLIENT_CERT: "HTTP - Make a client certificate auth request",
    HTTP_RESOLVE_URL: "HTTP - Resolve a target URL",
    HTTP_V4: "HTTP - Make a request",
    ROUTER: "Router",
    "builtin:BasicFeeder": "Iterator",
    "builtin:BasicAggregator": "Array aggregator",
    "builtin:BasicRepeater": "Repeater",
    "util:TextAggregator": "Tools - Text aggregator",
    "util:NumericAggregator": "Tools - Numeric aggregator",
    "util:Switcher": "Tools - Switch",
    "util:FunctionIncrement": "Tools - Increment function",
    "json:CreateJSON": "JSON - Create JSON",
    "json:TransformToJSON": "JSON - Transform to JSON",
    "regexp:Parser": "Text parser - Match pattern",
    "regexp:Replace": "Text parser - Replace",
    "regexp:HTMLToText": "Text parser - HTML to text",
    "datastore:GetRecord": "Data store - Get a record",
    "datastore:SearchRecord": "Data store - Search records",
    "datastore:UpdateRecord": "Data store - Update a record",
    "datastore:DeleteRecord": "Data store - Delete a record",
    "datastore:CountRecords": "Data store - Count records",
    "builtin:BasicIfElse": "If-else",
    "builtin:BasicMerge": "Merge",
    "builtin:Break": "Break",
    "builtin:Commit": "Commit",
    "builtin:Ignore": "Ignore",
    "builtin:Resume": "Resume",
    "builtin:Rollback": "Rollback",
    "util:SetVariable2": "Tools - Set variable",
    "util:SetVariables": "Tools - Set multiple variables",
    "util:GetVariable2": "Tools - Get variable",
    "util:ComposeTransformer": "Tools - Compose a string",
    "util:FunctionSleep": "Tools - Sleep",
    "json:ParseJSON": "JSON - Parse JSON",
    "google-sheets:addRow": "Google Sheets - Add a row",
    "slack:CreateMessage": "Slack - Create a message",
    "datastore:AddRecord": "Data store - Add/replace a record",
    "datastore:ExistRecord": "Data store - Check the existence of a record",
}

#: apps whose modules are transactional (ACID): Rollback reverts them, Commit commits them (make.md
#: directives)
TRANSACTIONAL_APPS = frozenset({"datastore", "mysql", "postgres", "mssql"})


def display_name(module: str) -> str:
    if module in _DISPLAY:
        return _DISPLAY[module]
    app, _, action = module.partition(":")
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", action).strip()
    return f"{app.replace('-', ' ').title()} - {words[:1].upper() + words[1:]}"


def is_trigger(module: Module) -> bool:
    """Whether the scenario's first module is a trigger fed by the run's bundles (a webhook, a `watch...`
    module); an action there (the public pattern `scheduled-http-poll` starts with an HTTP module) runs
    once."""
    app, _, action = module.module.partition(":")
    if app == "gateway":
        return action != "WebhookRespond"
    lowered = action.lower()
    return lowered.startswith("watch") or "trigger" in lowered or "webhook" in lowered
