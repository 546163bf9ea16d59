#!/usr/bin/python3
"""Writes deploy/grafana/zmqscope.json, the Grafana dashboard, from the panel
list below.  `make_dashboard.py --check` fails if the committed file differs.

Every panel's PromQL is run against a real Prometheus scraping zmqscope by
tests/integration/test_toolbox.py, with the variables substituted.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "zmqscope.json")

DS = {"type": "prometheus", "uid": "${datasource}"}
TARGET = 'job=~"$job", instance=~"$instance", pid=~"$pid"'
SOCKET = TARGET + ', role=~"$role", socket=~"$socket"'
HIST = TARGET + ', role=~"$role", msg_type=~"$msg_type"'
RATE = "[$__rate_interval]"

LMCACHE_SOCKET_GAUGES = [
    ("pull_socket_message_count", "Pull frames received", "short"),
    ("reply_socket_message_count", "Reply requests received", "short"),
    ("pull_socket_active_requests", "Pull frames being handled", "short"),
    ("reply_socket_active_requests", "Reply requests being handled", "short"),
    ("pull_socket_has_pending", "Pull message waiting", "short"),
    ("reply_socket_has_pending", "Reply request waiting", "short"),
]
# The controller's state, decoded from its traffic ("The rest of LMCache's gauges").
LMCACHE_STATE_GAUGES = [
    ("registered_workers_count", "Registered workers", "short"),
    ("kv_pool_keys_count", "KV pool keys", "short"),
    ("kv_op_seq_discontinuity_count", "KV op sequence discontinuities", "short"),
    ("full_sync_workers_syncing", "Full sync: workers syncing", "short"),
    ("full_sync_workers_completed", "Full sync: workers completed", "short"),
    ("full_sync_global_progress", "Full sync: global progress", "percentunit"),
    ("full_sync_missing_batches_total", "Full sync: missing batches", "short"),
]


def variables():
    def query_var(name, label, expr, multi=True):
        return {
            "name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": expr, "refId": f"{name}-values"},
            "definition": expr, "refresh": 2, "sort": 1,
            "multi": multi, "includeAll": True, "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        }
    return [
        {"name": "datasource", "label": "Data source", "type": "datasource",
         "query": "prometheus", "current": {}, "hide": 0},
        query_var("job", "Job", "label_values(zmqscope_build_info, job)"),
        query_var("instance", "Instance", 'label_values(zmqscope_build_info{job=~"$job"}, instance)'),
        query_var("pid", "PID", 'label_values(zmqscope_target_up{job=~"$job", instance=~"$instance"}, pid)'),
        query_var("role", "Role", "label_values(zmqscope_socket_pending{" + TARGET + "}, role)"),
        query_var("socket", "Socket",
                  'label_values(zmqscope_socket_pending{' + TARGET + ', role=~"$role"}, socket)'),
        query_var("msg_type", "Message type",
                  'label_values(zmqscope_handler_duration_seconds_count{' + TARGET +
                  ', role=~"$role"}, msg_type)'),
    ]


def timeseries(title, exprs, unit="short", description=""):
    return {
        "type": "timeseries", "title": title, "description": description, "datasource": DS,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom",
                               "calcs": ["lastNotNull", "max"]},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
        "targets": [{"datasource": DS, "expr": e, "legendFormat": legend,
                     "refId": chr(ord("A") + i)} for i, (e, legend) in enumerate(exprs)],
    }


def stat(title, expr, legend, unit="short", description=""):
    return {
        "type": "stat", "title": title, "description": description, "datasource": DS,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "value", "graphMode": "area", "textMode": "auto"},
        "targets": [{"datasource": DS, "expr": expr, "legendFormat": legend, "refId": "A"}],
    }


def heatmap(title, expr, description=""):
    return {
        "type": "heatmap", "title": title, "description": description, "datasource": DS,
        "options": {"calculate": False, "yAxis": {"unit": "s"},
                    "cellGap": 1, "color": {"mode": "scheme", "scheme": "Spectral"},
                    "tooltip": {"show": True, "yHistogram": True}},
        "fieldConfig": {"defaults": {}, "overrides": []},
        "targets": [{"datasource": DS, "expr": expr, "format": "heatmap",
                     "legendFormat": "{{le}}", "refId": "A"}],
    }


def rows():
    lm = []
    for name, title, unit in LMCACHE_SOCKET_GAUGES + LMCACHE_STATE_GAUGES:
        lm.append(stat(title, f"lmcache:cache_controller_{name}{{{TARGET}}}",
                       "{{instance}} pid {{pid}}", unit,
                       f"lmcache:cache_controller_{name}, as LMCache's PrometheusLogger names it."))

    per_socket = "{{instance}} {{pid}} {{role}} {{endpoint}}"
    rates = [
        timeseries("Messages received / s", [(
            f"sum by (instance, pid, socket, role, endpoint) (rate(zmqscope_messages_received_total{{{SOCKET}}}{RATE}))",
            per_socket)], "reqps"),
        timeseries("Messages sent / s", [(
            f"rate(zmqscope_messages_sent_total{{{SOCKET}}}{RATE})", per_socket)], "reqps"),
        timeseries("Bytes received / s", [(
            f"rate(zmqscope_bytes_received_total{{{SOCKET}}}{RATE})", per_socket)], "Bps"),
        timeseries("Bytes sent / s", [(
            f"rate(zmqscope_bytes_sent_total{{{SOCKET}}}{RATE})", per_socket)], "Bps"),
        timeseries("Received messages / s by msg_type", [(
            f"sum by (instance, pid, role, msg_type) (rate(zmqscope_messages_received_total{{{SOCKET}, msg_type=~\"$msg_type\"}}{RATE}))",
            "{{pid}} {{role}} {{msg_type}}")], "reqps"),
        timeseries("Would-block / s (send: back-pressure at the HWM)", [
            (f"rate(zmqscope_send_would_block_total{{{SOCKET}}}{RATE})", "send " + per_socket),
            (f"rate(zmqscope_receive_would_block_total{{{SOCKET}}}{RATE})", "recv " + per_socket)],
            "ops"),
    ]
    pending = [
        timeseries("Pending (a message was waiting when last checked)", [(
            f"zmqscope_socket_pending{{{SOCKET}}}", per_socket)]),
        timeseries("Active handlers", [(
            f"zmqscope_socket_active_handlers{{{SOCKET}}}", per_socket)]),
    ]
    latency = []
    for fam, what in (("handler", "Handler"), ("request", "Request")):
        bucket = f"zmqscope_{fam}_duration_seconds_bucket{{{HIST}}}"
        latency.append(timeseries(f"{what} latency p50 / p99 by msg_type", [
            (f"histogram_quantile(0.5, sum by (le, pid, role, msg_type) (rate({bucket}{RATE})))",
             "p50 {{pid}} {{msg_type}}"),
            (f"histogram_quantile(0.99, sum by (le, pid, role, msg_type) (rate({bucket}{RATE})))",
             "p99 {{pid}} {{msg_type}}")], "s"))
        latency.append(heatmap(f"{what} latency heatmap",
                               f"sum by (le) (rate({bucket}{RATE}))"))
    health = [
        stat("Targets up", f"zmqscope_target_up{{{TARGET}}}", "{{instance}} pid {{pid}}"),
        stat("Probes attached", f"sum by (instance, pid) (zmqscope_probe_attached{{{TARGET}}})",
             "{{instance}} pid {{pid}}"),
        stat("Probes failed", f"sum by (instance, pid) (1 - zmqscope_probe_attached{{{TARGET}}})",
             "{{instance}} pid {{pid}}"),
        timeseries("Map fill", [(
            'zmqscope_map_entries{job=~"$job", instance=~"$instance"} / '
            'zmqscope_map_max_entries{job=~"$job", instance=~"$instance"}',
            "{{instance}} {{map}}")], "percentunit"),
        timeseries("Map update drops / s", [(
            f'rate(zmqscope_map_update_failures_total{{job=~"$job", instance=~"$instance"}}{RATE})',
            "{{instance}} {{map}}")], "ops"),
        timeseries("Scrape duration", [
            ('zmqscope_scrape_duration_seconds{job=~"$job", instance=~"$instance"}',
             "zmqscope {{instance}}"),
            ('scrape_duration_seconds{job=~"$job", instance=~"$instance"}',
             "Prometheus {{instance}}")], "s"),
    ]
    return [("LMCache controller gauges", lm, 4, 4), ("Per-socket rates", rates, 12, 8),
            ("Pending and active", pending, 12, 8), ("Latency by msg_type", latency, 12, 9),
            ("zmqscope health", health, 8, 6)]


def dashboard():
    panels, y, pid = [], 0, 1
    for title, members, w, h in rows():
        panels.append({"type": "row", "title": title, "id": pid, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        pid, y, x = pid + 1, y + 1, 0
        for p in members:
            if x + w > 24:
                x, y = 0, y + h
            p["id"] = pid
            p["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
            panels.append(p)
            pid, x = pid + 1, x + w
        y += h
    return {
        "title": "zmqscope: ZeroMQ sockets (LMCache controller)",
        "uid": "zmqscope",
        "description": "Metrics from zmqscope, the eBPF observer of libzmq processes.",
        "tags": ["zmqscope", "zeromq", "lmcache"],
        "editable": True, "graphTooltip": 1, "schemaVersion": 38, "version": 1,
        "time": {"from": "now-1h", "to": "now"}, "refresh": "30s",
        "templating": {"list": variables()},
        "annotations": {"list": []},
        "panels": panels,
    }


def main():
    text = json.dumps(dashboard(), indent=2) + "\n"
    if sys.argv[1:] == ["--check"]:
        with open(OUT) as f:
            if f.read() != text:
                print(f"{OUT} is stale: run {sys.argv[0]}", file=sys.stderr)
                return 1
        print(f"{os.path.basename(OUT)} matches {os.path.basename(sys.argv[0])}")
        return 0
    with open(OUT, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
