#!/usr/bin/env python3
"""Records buf's verdicts on the configuration corpus as the fixtures the
`buf_config` tests compare the gates with: `python3 capture.py BUF`."""
import json, subprocess, sys, os

BUF = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BUF", "buf")
HERE = os.path.dirname(os.path.abspath(__file__))

LINT = [
    {"version": "v1"},
    {"version": "v1", "lint": {"use": ["BASIC"], "except": ["FIELD_LOWER_SNAKE_CASE"]}},
    {"version": "v1", "lint": {"ignore": ["b"], "ignore_only": {"RPC_REQUEST_RESPONSE_UNIQUE": ["a/v1/a.proto"]}}},
    {"version": "v1", "lint": {"enum_zero_value_suffix": "_NONE", "service_suffix": "API",
                               "rpc_allow_same_request_response": True,
                               "rpc_allow_google_protobuf_empty_requests": True,
                               "rpc_allow_google_protobuf_empty_responses": True}},
    {"version": "v1", "lint": {"allow_comment_ignores": True}},
    {"version": "v2"},
    {"version": "v2", "lint": {"disallow_comment_ignores": True}},
    {"version": "v1", "lint": {"use": ["MINIMAL", "RPC_PASCAL_CASE", "MESSAGE_PASCAL_CASE"]}},
    {"version": "v2", "lint": {"use": ["COMMENTS"], "except": ["COMMENT_FIELD", "COMMENT_ENUM_VALUE"]}},
]
BREAKING = [
    {"version": "v1"},
    {"version": "v1", "breaking": {"use": ["WIRE"]}},
    {"version": "v1", "breaking": {"use": ["FILE"], "except": ["FIELD_SAME_TYPE"]}},
    {"version": "v1", "breaking": {"ignore": ["a/v1beta1"]}},
    {"version": "v1", "breaking": {"ignore_only": {"FIELD_NO_DELETE": ["a"], "PACKAGE": ["c/v1/c.proto"]}}},
    {"version": "v1", "breaking": {"ignore_unstable_packages": True}},
    {"version": "v2", "breaking": {"use": ["PACKAGE", "WIRE_JSON"]}},
]

def run(args, cwd):
    out = subprocess.run([BUF, *args, "--error-format", "json"], cwd=cwd, capture_output=True, text=True)
    return [json.loads(l) for l in out.stdout.splitlines() if l.strip()]

cases = {"lint": [], "breaking": []}
for config in LINT:
    cases["lint"].append({"config": config, "buf": run(["lint", ".", "--config", json.dumps(config)], os.path.join(HERE, "lint/proto"))})
for config in BREAKING:
    args = ["breaking", ".", "--against", "../before", "--config", json.dumps(config), "--against-config", json.dumps(config)]
    cases["breaking"].append({"config": config, "buf": run(args, os.path.join(HERE, "breaking/after"))})
with open(os.path.join(HERE, "buf-verdicts.json"), "w") as f:
    json.dump(cases, f, indent=1, sort_keys=True)
    f.write("\n")
