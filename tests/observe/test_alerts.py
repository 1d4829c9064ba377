"""The operator's monitoring kit in deploy/: Prometheus alert rules and a Grafana dashboard.

promtool checks the rules and runs their unit tests (deploy/prometheus/alerts_test.yml: each alert fires
where it must, with its exact labels and annotations, and stays quiet where it must not); changing a
rule's threshold, label or selector makes those unit tests fail. Rules and dashboard may only query the
metrics z0 exports (so neither can drift from them), and every dashboard query is evaluated by promtool
on known series and must compute what its panel says.

promtool comes from `make test` (taken from Debian's prometheus package into .cache/prometheus), from
PATH, or from Z0_PROMTOOL; without it the tests that run it skip and say how to get it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "deploy/prometheus/alerts.yml"
ALERTS_TEST = REPO / "deploy/prometheus/alerts_test.yml"
DASHBOARD = REPO / "deploy/grafana/z0.json"

# z0's metrics, as exported on its metrics endpoint.
COUNTERS = {
    "z0_wfp_dispatches_total",
    "z0_wfp_user_worker_errors_total",
    "z0_wfp_deployments_total",
    "z0_isolate_cache_hits_total",
    "z0_isolate_cache_misses_total",
    "z0_isolate_evictions_total",
}
HISTOGRAMS = {"z0_wfp_dispatch_duration_ms", "z0_wfp_user_worker_cpu_ms"}
GAUGES = {"z0_isolates_resident"}
SERIES = COUNTERS | GAUGES | {f"{h}{suffix}" for h in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
# Prometheus' own series for a scrape target: the rules use it to tell "new series" from "new target".
SCRAPE_SERIES = {"up"}


def _promtool() -> str | None:
    if os.environ.get("Z0_PROMTOOL"):
        return os.environ["Z0_PROMTOOL"]
    local = REPO / ".cache/prometheus/promtool"
    return shutil.which("promtool") or (str(local) if local.is_file() else None)


PROMTOOL = _promtool()
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed: `make test` takes it from Debian's prometheus package "
    "(into .cache/prometheus); or `apt-get install prometheus`, or set Z0_PROMTOOL",
)


def promtool(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


# --- metric names in PromQL ------------------------------------------------------------------------

_KEYWORDS = {"and", "or", "unless", "offset", "bool", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression (Grafana variables allowed) selects."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\b(?:group_left|group_right)\b", "", expr)
    expr = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana variables
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        word = match.group()
        if match.start() > 0 and expr[match.start() - 1] in "0123456789.":
            continue  # the unit of a duration (offset 15m) or an exponent (1e3)
        if expr[match.end() :].lstrip().startswith("(") or word.lower() in _KEYWORDS:
            continue  # a function or an operator
        names.add(word)
    return names


def test_metric_names_are_found_in_promql() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (tenant_id, le) (rate(z0_a_bucket{le!="1e3"}[$__rate_interval])))'
        " / on (tenant_id) group_left sum without (x) (z0_b_total offset 15m) > bool 1e3 unless up"
    )
    assert metric_names(expr) == {"z0_a_bucket", "z0_b_total", "up"}


# --- alert rules ------------------------------------------------------------------------------------


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    assert [group["name"] for group in document["groups"]] == ["z0"]
    rules: list[dict[str, Any]] = document["groups"][0]["rules"]
    return rules


@needs_promtool
def test_alert_rules_are_valid() -> None:
    result = promtool("check", "rules", str(ALERTS.relative_to(REPO)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 4 rules found" in result.stdout


@needs_promtool
def test_alert_rules_pass_their_unit_tests() -> None:
    result = promtool("test", "rules", str(ALERTS_TEST.relative_to(REPO)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
@pytest.mark.parametrize(
    ("old", "new"),
    [
        # the "first failure of a tenant" branch: the series existed a minute ago, so it is never new
        ('{status="failed"} offset 15m', '{status="failed"} offset 1m'),
        ("> 0.05", "> 0.07"),
        ("severity: critical", "severity: warning"),
        ('{error_type!="canceled"}', ""),
        (") > 500", ") > 1000"),
        ('error_type="exceeded_cpu"', 'error_type=~"exceeded_.*"'),
    ],
)
def test_the_unit_tests_catch_a_changed_rule(tmp_path: Path, old: str, new: str) -> None:
    rules = ALERTS.read_text()
    assert old in rules
    (tmp_path / "alerts.yml").write_text(rules.replace(old, new))
    shutil.copy(ALERTS_TEST, tmp_path / "alerts_test.yml")
    result = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


def test_the_four_alerts_are_per_tenant_with_a_runbook() -> None:
    rules = _rules()
    severities = {rule["alert"]: rule["labels"]["severity"] for rule in rules}
    assert severities == {
        "Z0DeployFailed": "warning",
        "Z0UserWorkerErrorRate": "critical",
        "Z0DispatchLatencyHigh": "warning",
        "Z0CpuLimitExceeded": "warning",
    }
    for rule in rules:
        assert set(rule["labels"]) == {"severity"}, rule["alert"]
        assert "sum by (tenant_id" in rule["expr"], rule["alert"]
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook"}, rule["alert"]
        assert "{{ $labels.tenant_id }}" in annotations["summary"], rule["alert"]
        assert "\n" not in annotations["runbook"], rule["alert"]
        assert re.search(r"`z0 \w+", annotations["runbook"]), rule["alert"]


def test_alert_rules_and_their_tests_use_only_z0_metrics() -> None:
    for rule in _rules():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= SERIES | SCRAPE_SERIES, (rule["alert"], names - SERIES)
    tests = yaml.safe_load(ALERTS_TEST.read_text())["tests"]
    for test in tests:
        for series in test["input_series"]:
            name = series["series"].split("{", 1)[0]
            assert name in SERIES | SCRAPE_SERIES, (test["name"], name)


# --- Grafana dashboard ------------------------------------------------------------------------------


def _dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def _targets(dashboard: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(panel title, refId) → PromQL, for every query of every panel."""
    targets = {}
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            targets[(panel["title"], target["refId"])] = target["expr"]
    return targets


def test_dashboard_has_a_datasource_and_a_tenant_variable() -> None:
    dashboard = _dashboard()
    assert dashboard["schemaVersion"] >= 36
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    tenant = variables["tenant_id"]
    assert tenant["type"] == "query"
    assert tenant["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert tenant["query"]["query"] == "label_values(z0_wfp_dispatches_total, tenant_id)"
    assert tenant["multi"] and tenant["includeAll"]


def test_dashboard_panels_query_only_z0_metrics_through_the_datasource_variable() -> None:
    dashboard = _dashboard()
    panels = dashboard["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    graphs = [panel for panel in panels if panel["type"] != "row"]
    assert graphs
    for panel in graphs:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            names = metric_names(target["expr"])
            assert names, (panel["title"], target["expr"])
            assert names <= SERIES, (panel["title"], names - SERIES)
            if any(name.startswith("z0_wfp_") for name in names):  # the isolate cache is not per tenant
                assert 'tenant_id=~"$tenant_id"' in target["expr"], panel["title"]


# Known series, sampled every minute, and what each panel's query must answer at 10m with the tenant
# filter at All and a 5m rate interval. Per second: tenant_a 2 requests (1.5 ok, 0.25 exceptions, 0.25
# over CPU), tenant_b 1 (0.1 exceptions), 0.5 unresolved (401); durations and CPU from small histograms.
DASHBOARD_SERIES = [
    ('z0_wfp_dispatches_total{tenant_id="tenant_a", script_name="tenant_a", status="200"}', "0+90x15"),
    ('z0_wfp_dispatches_total{tenant_id="tenant_a", script_name="tenant_a", status="500"}', "0+15x15"),
    ('z0_wfp_dispatches_total{tenant_id="tenant_a", script_name="tenant_a", status="503"}', "0+15x15"),
    ('z0_wfp_dispatches_total{tenant_id="tenant_b", script_name="tenant_b", status="200"}', "0+60x15"),
    ('z0_wfp_dispatches_total{tenant_id="", script_name="", status="401"}', "0+30x15"),
    ('z0_wfp_user_worker_errors_total{tenant_id="tenant_a", error_type="exception"}', "0+15x15"),
    ('z0_wfp_user_worker_errors_total{tenant_id="tenant_a", error_type="exceeded_cpu"}', "0+15x15"),
    ('z0_wfp_user_worker_errors_total{tenant_id="tenant_b", error_type="exception"}', "0+6x15"),
    # half of tenant_a's requests within 5-10 ms, the other half within 10-25 ms
    ('z0_wfp_dispatch_duration_ms_bucket{tenant_id="tenant_a", le="5"}', "0x15"),
    ('z0_wfp_dispatch_duration_ms_bucket{tenant_id="tenant_a", le="10"}', "0+60x15"),
    ('z0_wfp_dispatch_duration_ms_bucket{tenant_id="tenant_a", le="25"}', "0+120x15"),
    ('z0_wfp_dispatch_duration_ms_bucket{tenant_id="tenant_a", le="+Inf"}', "0+120x15"),
    ('z0_wfp_user_worker_cpu_ms_bucket{tenant_id="tenant_a", le="1"}', "0x15"),
    ('z0_wfp_user_worker_cpu_ms_bucket{tenant_id="tenant_a", le="2.5"}', "0+60x15"),
    ('z0_wfp_user_worker_cpu_ms_bucket{tenant_id="tenant_a", le="5"}', "0+120x15"),
    ('z0_wfp_user_worker_cpu_ms_bucket{tenant_id="tenant_a", le="+Inf"}', "0+120x15"),
    # one deploy a minute; one refused upload at 6m
    ('z0_wfp_deployments_total{tenant_id="tenant_a", status="success"}', "0+1x15"),
    ('z0_wfp_deployments_total{tenant_id="tenant_a", status="failed"}', "0x5 1x10"),
    ('z0_isolates_resident{instance="node1:8788"}', "40x15"),
    ('z0_isolates_resident{instance="node2:8788"}', "60x15"),
    ('z0_isolate_cache_hits_total{instance="node1:8788"}', "0+90x15"),
    ('z0_isolate_cache_misses_total{instance="node1:8788"}', "0+30x15"),
    ('z0_isolate_evictions_total{instance="node1:8788"}', "0+6x15"),
]
PANEL_VALUES: dict[tuple[str, str], dict[str, float]] = {
    ("Dispatches/s by status", "A"): {
        '{status="200"}': 2.5,
        '{status="500"}': 0.25,
        '{status="503"}': 0.25,
        '{status="401"}': 0.5,
    },
    ("User-worker error rate by tenant and error type", "A"): {
        '{tenant_id="tenant_a", error_type="exception"}': 0.125,
        '{tenant_id="tenant_a", error_type="exceeded_cpu"}': 0.125,
        '{tenant_id="tenant_b", error_type="exception"}': 0.1,
    },
    ("Dispatch duration p50 / p99 by tenant", "A"): {'{tenant_id="tenant_a"}': 10},
    ("Dispatch duration p50 / p99 by tenant", "B"): {'{tenant_id="tenant_a"}': 24.7},
    ("User-worker CPU p99 by tenant", "A"): {'{tenant_id="tenant_a"}': 4.95},
    ("Deployments by status", "A"): {'{status="success"}': 5, '{status="failed"}': 1},
    ("Resident isolates", "A"): {'{instance="node1:8788"}': 40, '{instance="node2:8788"}': 60},
    ("Isolate cache hit ratio", "A"): {"{}": 0.75},
    ("Isolate evictions/s", "A"): {'{instance="node1:8788"}': 0.1},
}


@needs_promtool
def test_dashboard_queries_compute_what_their_panels_say(tmp_path: Path) -> None:
    targets = _targets(_dashboard())
    assert set(targets) == set(PANEL_VALUES)
    (tmp_path / "none.yml").write_text("groups: []\n")
    tests = []
    for (title, ref), expr in targets.items():
        promql = expr.replace("$__rate_interval", "5m").replace("$tenant_id", ".*")
        tests.append(
            {
                "expr": f"round({promql}, 0.001)",  # the last bits of a float differ between versions
                "eval_time": "10m",
                "exp_samples": [
                    {"labels": labels, "value": value} for labels, value in PANEL_VALUES[(title, ref)].items()
                ],
            }
        )
    spec = {
        "rule_files": ["none.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": series, "values": values} for series, values in DASHBOARD_SERIES],
                "promql_expr_test": tests,
            }
        ],
    }
    (tmp_path / "dashboard_test.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    result = promtool("test", "rules", "dashboard_test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_dashboard_tenant_filter_keeps_only_that_tenant(tmp_path: Path) -> None:
    expr = _targets(_dashboard())[("Dispatches/s by status", "A")]
    promql = expr.replace("$__rate_interval", "5m").replace("$tenant_id", "tenant_a")
    (tmp_path / "none.yml").write_text("groups: []\n")
    spec = {
        "rule_files": ["none.yml"],
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": series, "values": values} for series, values in DASHBOARD_SERIES],
                "promql_expr_test": [
                    {
                        "expr": f"round({promql}, 0.001)",
                        "eval_time": "10m",
                        "exp_samples": [
                            {"labels": '{status="200"}', "value": 1.5},
                            {"labels": '{status="500"}', "value": 0.25},
                            {"labels": '{status="503"}', "value": 0.25},
                        ],
                    }
                ],
            }
        ],
    }
    (tmp_path / "dashboard_test.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    result = promtool("test", "rules", "dashboard_test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
