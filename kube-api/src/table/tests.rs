//! Table-driven tests of the printers against upstream's outputs.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::*;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z").map(|t| t.with_timezone(&Utc)).expect("valid time")
}

/// `now` minus `secs`, as an RFC 3339 string.
fn ago(secs: i64) -> String {
    (now() - Duration::seconds(secs)).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn pod(status: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "nginx", "namespace": "default", "creationTimestamp": ago(300)},
        "spec": {"containers": [{"name": "nginx", "image": "nginx"}]},
        "status": status,
    })
}

fn running(ready: bool) -> Value {
    json!({"name": "nginx", "ready": ready, "restartCount": 0, "state": {"running": {"startedAt": ago(200)}}})
}

fn waiting(reason: &str, restarts: i64) -> Value {
    json!({"name": "nginx", "ready": false, "restartCount": restarts, "state": {"waiting": {"reason": reason}}})
}

#[test]
fn pod_status_reads_as_upstream_prints_it() {
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("a pod without status", json!({"metadata": {"name": "x"}, "spec": {"containers": [{}]}}), "", "0/1"),
        ("a pending pod with no container statuses", pod(json!({"phase": "Pending"})), "Pending", "0/1"),
        (
            "a pod whose container is being created",
            pod(json!({"phase": "Pending", "containerStatuses": [waiting("ContainerCreating", 0)]})),
            "ContainerCreating",
            "0/1",
        ),
        (
            "a running ready pod",
            pod(json!({"phase": "Running", "containerStatuses": [running(true)]})),
            "Running",
            "1/1",
        ),
        (
            "a running pod not yet ready",
            pod(json!({"phase": "Running", "containerStatuses": [running(false)]})),
            "Running",
            "0/1",
        ),
        (
            "a crash-looping pod",
            pod(json!({"phase": "Running", "containerStatuses": [waiting("CrashLoopBackOff", 3)]})),
            "CrashLoopBackOff",
            "0/1",
        ),
        (
            "an image pull error",
            pod(json!({"phase": "Pending", "containerStatuses": [waiting("ErrImagePull", 0)]})),
            "ErrImagePull",
            "0/1",
        ),
        (
            "an image pull back-off",
            pod(json!({"phase": "Pending", "containerStatuses": [waiting("ImagePullBackOff", 0)]})),
            "ImagePullBackOff",
            "0/1",
        ),
        (
            "a completed pod",
            pod(json!({"phase": "Succeeded", "containerStatuses": [
                {"name": "nginx", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]})),
            "Completed",
            "0/1",
        ),
        (
            "a container killed by a signal without a reason",
            pod(json!({"phase": "Failed", "containerStatuses": [
                {"name": "nginx", "restartCount": 0, "state": {"terminated": {"exitCode": 137, "signal": 9}}}]})),
            "Signal:9",
            "0/1",
        ),
        (
            "a container that exited without a reason",
            pod(json!({"phase": "Failed", "containerStatuses": [
                {"name": "nginx", "restartCount": 0, "state": {"terminated": {"exitCode": 2}}}]})),
            "ExitCode:2",
            "0/1",
        ),
        (
            "a pod being deleted",
            {
                let mut p = pod(json!({"phase": "Running", "containerStatuses": [running(true)]}));
                p["metadata"]["deletionTimestamp"] = json!(ago(5));
                p
            },
            "Terminating",
            "1/1",
        ),
        (
            "a pod being deleted after it completed",
            {
                let mut p = pod(json!({"phase": "Succeeded"}));
                p["metadata"]["deletionTimestamp"] = json!(ago(5));
                p
            },
            "Succeeded",
            "0/1",
        ),
        ("a pod on a lost node", pod(json!({"phase": "Running", "reason": "NodeLost"})), "NodeLost", "0/1"),
        (
            "a pod on a lost node being deleted",
            {
                let mut p = pod(json!({"phase": "Running", "reason": "NodeLost"}));
                p["metadata"]["deletionTimestamp"] = json!(ago(5));
                p
            },
            "Unknown",
            "0/1",
        ),
        (
            "a pod gated from scheduling",
            pod(
                json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
            ),
            "SchedulingGated",
            "0/1",
        ),
    ];
    for (what, pod, status, ready) in cases {
        let cells = row_cells("Pod", &pod, now());
        assert_eq!(cells[2], json!(status), "status of {what}");
        assert_eq!(cells[1], json!(ready), "readiness of {what}");
    }
}

fn with_init(init_statuses: Value, sidecar: bool) -> Value {
    let mut p = pod(json!({"phase": "Pending", "initContainerStatuses": init_statuses,
        "containerStatuses": [waiting("PodInitializing", 0)]}));
    let mut init = json!({"name": "init", "image": "busybox"});
    if sidecar {
        init["restartPolicy"] = json!("Always");
    }
    p["spec"]["initContainers"] = json!([init]);
    p
}

#[test]
fn init_containers_decide_the_status_until_the_pod_is_initialized() {
    let cases = vec![
        (
            "an init container waiting to start",
            json!([{"name": "init", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]),
            "Init:0/1",
        ),
        (
            "a running init container",
            json!([{"name": "init", "restartCount": 0, "state": {"running": {}}}]),
            "Init:0/1",
        ),
        (
            "a crash-looping init container",
            json!([{"name": "init", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]),
            "Init:CrashLoopBackOff",
        ),
        (
            "a failed init container with a reason",
            json!([{"name": "init", "restartCount": 0, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]),
            "Init:Error",
        ),
        (
            "a failed init container without a reason",
            json!([{"name": "init", "restartCount": 0, "state": {"terminated": {"exitCode": 3}}}]),
            "Init:ExitCode:3",
        ),
        (
            "an init container killed by a signal",
            json!([{"name": "init", "restartCount": 0, "state": {"terminated": {"exitCode": 137, "signal": 9}}}]),
            "Init:Signal:9",
        ),
        (
            "a finished init container",
            json!([{"name": "init", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]),
            "PodInitializing",
        ),
    ];
    for (what, statuses, want) in cases {
        let cells = row_cells("Pod", &with_init(statuses, false), now());
        assert_eq!(cells[2], json!(want), "status with {what}");
    }
}

#[test]
fn a_started_sidecar_counts_as_a_container() {
    let p = with_init(
        json!([{"name": "init", "ready": true, "started": true, "restartCount": 0, "state": {"running": {}}}]),
        true,
    );
    let cells = row_cells("Pod", &p, now());
    assert_eq!(cells[1], json!("1/2"));
    assert_eq!(cells[2], json!("PodInitializing"));
}

#[test]
fn a_completed_container_beside_a_running_one_reads_running_or_not_ready() {
    let statuses = json!([
        {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
        {"name": "b", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
    ]);
    let mut p = pod(json!({"phase": "Running", "containerStatuses": statuses,
        "conditions": [{"type": "Ready", "status": "True"}]}));
    p["spec"]["containers"] = json!([{"name": "a"}, {"name": "b"}]);
    assert_eq!(row_cells("Pod", &p, now())[2], json!("Running"));
    p["status"]["conditions"] = json!([{"type": "Ready", "status": "False"}]);
    assert_eq!(row_cells("Pod", &p, now())[2], json!("NotReady"));
}

#[test]
fn restarts_show_when_the_last_one_happened() {
    let mut status = waiting("CrashLoopBackOff", 3);
    status["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(302)}});
    let cells = row_cells("Pod", &pod(json!({"phase": "Running", "containerStatuses": [status]})), now());
    assert_eq!(cells[3], json!("3 (5m2s ago)"));

    let cells = row_cells(
        "Pod",
        &pod(json!({"phase": "Running", "containerStatuses": [waiting("CrashLoopBackOff", 3)]})),
        now(),
    );
    assert_eq!(cells[3], json!("3"), "without a termination time, the count alone");
    let cells = row_cells("Pod", &pod(json!({"phase": "Running", "containerStatuses": [running(true)]})), now());
    assert_eq!(cells[3], json!("0"));
}

#[test]
fn pod_wide_cells_print_none_for_what_is_unset() {
    let mut p = pod(json!({"phase": "Running", "podIP": "10.244.0.5", "containerStatuses": [running(true)]}));
    let cells = row_cells("Pod", &p, now());
    assert_eq!(
        cells,
        vec![
            json!("nginx"),
            json!("1/1"),
            json!("Running"),
            json!("0"),
            json!("5m"),
            json!("10.244.0.5"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>"),
        ]
    );
    p["spec"]["nodeName"] = json!("node-1");
    p["spec"]["readinessGates"] = json!([{"conditionType": "www.example.com/feature-1"}, {"conditionType": "other"}]);
    p["status"]["conditions"] = json!([{"type": "www.example.com/feature-1", "status": "True"}]);
    let cells = row_cells("Pod", &p, now());
    assert_eq!(cells[6], json!("node-1"));
    assert_eq!(cells[8], json!("1/2"));
}

#[test]
fn pod_columns_are_upstreams() {
    let cols = columns("Pod");
    let got: Vec<(&str, &str, &str, i32)> =
        cols.iter().map(|c| (c.name.as_str(), c.type_.as_str(), c.format.as_str(), c.priority)).collect();
    assert_eq!(
        got,
        vec![
            ("Name", "string", "name", 0),
            ("Ready", "string", "", 0),
            ("Status", "string", "", 0),
            ("Restarts", "string", "", 0),
            ("Age", "string", "", 0),
            ("IP", "string", "", 1),
            ("Node", "string", "", 1),
            ("Nominated Node", "string", "", 1),
            ("Readiness Gates", "string", "", 1),
        ]
    );
}

#[test]
fn every_kind_has_as_many_cells_as_columns() {
    let empty = json!({});
    for kind in [
        "Pod",
        "Node",
        "Service",
        "Endpoints",
        "Namespace",
        "ConfigMap",
        "Secret",
        "Event",
        "ReplicationController",
        "ServiceAccount",
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "Lease",
        "Widget",
    ] {
        assert_eq!(row_cells(kind, &empty, now()).len(), columns(kind).len(), "{kind}");
    }
}

fn node(conditions: Value, unschedulable: bool) -> Value {
    json!({
        "metadata": {"name": "node-1", "creationTimestamp": ago(3 * 86400),
                     "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "node-1"}},
        "spec": {"unschedulable": unschedulable},
        "status": {"conditions": conditions, "nodeInfo": {"kubeletVersion": "v1.33.0"},
                   "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}]},
    })
}

#[test]
fn node_status_comes_from_the_ready_condition() {
    let ready = |s: &str| json!([{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": s}]);
    let cases = vec![
        ("a ready node", node(ready("True"), false), "Ready"),
        ("a node that is not ready", node(ready("False"), false), "NotReady"),
        ("a node whose kubelet stopped reporting", node(ready("Unknown"), false), "NotReady"),
        ("a node without conditions", node(json!([]), false), "Unknown"),
        ("a cordoned ready node", node(ready("True"), true), "Ready,SchedulingDisabled"),
        ("a cordoned node without conditions", node(json!([]), true), "Unknown,SchedulingDisabled"),
    ];
    for (what, n, want) in cases {
        assert_eq!(row_cells("Node", &n, now())[1], json!(want), "{what}");
    }
}

#[test]
fn node_row_shows_roles_version_and_addresses() {
    let cells = row_cells("Node", &node(json!([{"type": "Ready", "status": "True"}]), false), now());
    assert_eq!(
        cells,
        vec![
            json!("node-1"),
            json!("Ready"),
            json!("control-plane"),
            json!("3d"),
            json!("v1.33.0"),
            json!("192.168.1.10"),
            json!("<none>"),
            json!("<unknown>"),
            json!("<unknown>"),
            json!("<unknown>"),
        ]
    );
    let bare = json!({"metadata": {"name": "n"}});
    assert_eq!(row_cells("Node", &bare, now())[2], json!("<none>"));
}

fn service(type_: &str, ports: Value) -> Value {
    json!({
        "metadata": {"name": "web", "creationTimestamp": ago(90)},
        "spec": {"type": type_, "clusterIP": "10.0.0.12", "clusterIPs": ["10.0.0.12"], "ports": ports,
                 "selector": {"app": "web", "tier": "front"}},
    })
}

#[test]
fn service_ports_show_node_ports_and_protocols() {
    let cases = vec![
        (json!([{"port": 80, "protocol": "TCP", "targetPort": 8080}]), "80/TCP"),
        (json!([{"port": 80, "protocol": "TCP", "nodePort": 30000}]), "80:30000/TCP"),
        (
            json!([{"port": 80, "protocol": "TCP", "nodePort": 30080}, {"port": 53, "protocol": "UDP"}]),
            "80:30080/TCP,53/UDP",
        ),
        (json!([]), "<none>"),
    ];
    for (ports, want) in cases {
        assert_eq!(row_cells("Service", &service("NodePort", ports), now())[4], json!(want));
    }
}

#[test]
fn service_external_ip_depends_on_the_type() {
    let mut lb = service("LoadBalancer", json!([{"port": 80, "protocol": "TCP"}]));
    assert_eq!(row_cells("Service", &lb, now())[3], json!("<pending>"));
    lb["status"] = json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}});
    assert_eq!(row_cells("Service", &lb, now())[3], json!("203.0.113.7"));

    let mut cluster_ip = service("ClusterIP", json!([{"port": 443, "protocol": "TCP"}]));
    assert_eq!(
        row_cells("Service", &cluster_ip, now()),
        vec![
            json!("web"),
            json!("ClusterIP"),
            json!("10.0.0.12"),
            json!("<none>"),
            json!("443/TCP"),
            json!("90s"),
            json!("app=web,tier=front")
        ],
    );
    cluster_ip["spec"]["externalIPs"] = json!(["198.51.100.1", "198.51.100.2"]);
    assert_eq!(row_cells("Service", &cluster_ip, now())[3], json!("198.51.100.1,198.51.100.2"));

    let external =
        json!({"metadata": {"name": "db"}, "spec": {"type": "ExternalName", "externalName": "db.example.com"}});
    let cells = row_cells("Service", &external, now());
    assert_eq!((&cells[2], &cells[3], &cells[6]), (&json!("<none>"), &json!("db.example.com"), &json!("<none>")));
}

#[test]
fn endpoints_show_three_addresses_and_count_the_rest() {
    let subsets = |n: usize| {
        let addresses: Vec<Value> = (1..=n).map(|i| json!({"ip": format!("10.0.0.{i}")})).collect();
        json!({"metadata": {"name": "web"}, "subsets": [{"addresses": addresses, "ports": [{"port": 80}]}]})
    };
    let cases = vec![
        (json!({"metadata": {"name": "web"}}), "<none>"),
        (subsets(2), "10.0.0.1:80,10.0.0.2:80"),
        (subsets(3), "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80"),
        (subsets(5), "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more..."),
        (json!({"subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]}), "[fd00::1]:80"),
        (json!({"subsets": [{"addresses": [{"ip": "10.0.0.9"}]}]}), "10.0.0.9"),
    ];
    for (ep, want) in cases {
        assert_eq!(row_cells("Endpoints", &ep, now())[1], json!(want));
    }
}

#[test]
fn deployment_ready_counts_ready_over_desired() {
    let d = |replicas: Value, status: Value| {
        json!({
            "metadata": {"name": "web", "creationTimestamp": ago(600)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]}}},
            "status": status,
        })
    };
    let cases = vec![
        (
            d(json!(2), json!({"replicas": 2, "readyReplicas": 2, "updatedReplicas": 2, "availableReplicas": 2})),
            "2/2",
            2,
            2,
        ),
        (
            d(json!(3), json!({"replicas": 3, "readyReplicas": 1, "updatedReplicas": 3, "availableReplicas": 1})),
            "1/3",
            3,
            1,
        ),
        (d(json!(2), json!({})), "0/2", 0, 0),
        (d(json!(0), json!({})), "0/0", 0, 0),
    ];
    for (dep, ready, updated, available) in cases {
        let cells = row_cells("Deployment", &dep, now());
        assert_eq!(
            cells,
            vec![
                json!("web"),
                json!(ready),
                json!(updated),
                json!(available),
                json!("10m"),
                json!("nginx,log"),
                json!("nginx:1.27,busybox"),
                json!("app=web")
            ],
        );
    }
}

#[test]
fn selectors_print_in_their_string_form() {
    let rs = |selector: Value| json!({"metadata": {"name": "web"}, "spec": {"replicas": 1, "selector": selector}});
    let cases = vec![
        (json!(null), "<none>"),
        (json!({}), "<none>"),
        (json!({"matchLabels": {"tier": "front", "app": "web"}}), "app=web,tier=front"),
        (
            json!({"matchLabels": {"app": "web"}, "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                {"key": "zone", "operator": "NotIn", "values": ["b"]},
                {"key": "gpu", "operator": "Exists"},
                {"key": "canary", "operator": "DoesNotExist"}]}),
            "app=web,!canary,env in (dev,prod),gpu,zone notin (b)",
        ),
        (json!({"matchExpressions": [{"key": "env", "operator": "Near", "values": ["x"]}]}), "<error>"),
    ];
    for (selector, want) in cases {
        assert_eq!(row_cells("ReplicaSet", &rs(selector), now())[7], json!(want));
    }
}

#[test]
fn job_status_completions_and_duration() {
    let job = |spec: Value, status: Value| json!({"metadata": {"name": "pi", "creationTimestamp": ago(400)}, "spec": spec, "status": status});
    let cases = vec![
        (job(json!({"completions": 1}), json!({"startTime": ago(65)})), "Running", "0/1", "65s"),
        (
            job(
                json!({"completions": 1}),
                json!({"succeeded": 1, "startTime": ago(300), "completionTime": ago(250),
                "conditions": [{"type": "Complete", "status": "True"}]}),
            ),
            "Complete",
            "1/1",
            "50s",
        ),
        (
            job(
                json!({"completions": 3}),
                json!({"failed": 6, "startTime": ago(300), "completionTime": ago(100),
                "conditions": [{"type": "Failed", "status": "True"}]}),
            ),
            "Failed",
            "0/3",
            "3m20s",
        ),
        (job(json!({"parallelism": 4}), json!({"succeeded": 1, "startTime": ago(10)})), "Running", "1/1 of 4", "10s"),
        (
            job(
                json!({"completions": 1, "suspend": true}),
                json!({"conditions": [{"type": "Suspended", "status": "True"}]}),
            ),
            "Suspended",
            "0/1",
            "",
        ),
    ];
    for (j, status, completions, took) in cases {
        let cells = row_cells("Job", &j, now());
        assert_eq!((&cells[1], &cells[2], &cells[3]), (&json!(status), &json!(completions), &json!(took)));
    }
}

#[test]
fn event_row_names_the_object_and_its_source() {
    let ev = json!({
        "metadata": {"name": "nginx.17f", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "nginx", "fieldPath": "spec.containers{nginx}"},
        "reason": "Pulled", "type": "Normal", "message": "Successfully pulled image \"nginx\"\n",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ago(3600), "lastTimestamp": ago(70), "count": 4,
    });
    assert_eq!(
        row_cells("Event", &ev, now()),
        vec![
            json!("70s"),
            json!("Normal"),
            json!("Pulled"),
            json!("pod/nginx"),
            json!("spec.containers{nginx}"),
            json!("kubelet, node-1"),
            json!("Successfully pulled image \"nginx\""),
            json!("60m"),
            json!(4),
            json!("nginx.17f")
        ],
    );
    let new_api = json!({
        "metadata": {"name": "e"}, "involvedObject": {"kind": "Node"}, "eventTime": "2025-06-01T11:59:30.000000Z",
        "reportingComponent": "scheduler",
    });
    let cells = row_cells("Event", &new_api, now());
    assert_eq!(
        (&cells[0], &cells[3], &cells[5], &cells[8]),
        (&json!("30s"), &json!("node"), &json!("scheduler"), &json!(1))
    );
}

#[test]
fn small_kinds_print_counts_as_integers() {
    let cm = json!({"metadata": {"name": "cfg", "creationTimestamp": ago(5)}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
    assert_eq!(row_cells("ConfigMap", &cm, now()), vec![json!("cfg"), json!(3), json!("5s")]);
    let secret = json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"k": "dg=="}});
    assert_eq!(row_cells("Secret", &secret, now()), vec![json!("s"), json!("Opaque"), json!(1), json!("<unknown>")]);
    let sa = json!({"metadata": {"name": "default"}, "secrets": []});
    assert_eq!(row_cells("ServiceAccount", &sa, now())[1], json!(0));
    let ns = json!({"metadata": {"name": "default"}, "status": {"phase": "Active"}});
    assert_eq!(row_cells("Namespace", &ns, now())[1], json!("Active"));
    let lease = json!({"metadata": {"name": "kube-scheduler"}, "spec": {"holderIdentity": "node-1_abc"}});
    assert_eq!(row_cells("Lease", &lease, now())[1], json!("node-1_abc"));
    let sts = json!({"metadata": {"name": "db"}, "spec": {"replicas": 3}, "status": {"readyReplicas": 2}});
    assert_eq!(row_cells("StatefulSet", &sts, now())[1], json!("2/3"));
    let rc = json!({"metadata": {"name": "rc"}, "spec": {"replicas": 2, "selector": {"app": "web"}}, "status": {"replicas": 2, "readyReplicas": 1}});
    assert_eq!(row_cells("ReplicationController", &rc, now())[1..4], [json!(2), json!(2), json!(1)]);
    assert_eq!(row_cells("ReplicationController", &rc, now())[7], json!("app=web"));
    let ds = json!({"metadata": {"name": "ds"}, "spec": {"template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}}}},
                    "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1}});
    assert_eq!(
        row_cells("DaemonSet", &ds, now())[1..7],
        [json!(2), json!(2), json!(1), json!(0), json!(0), json!("kubernetes.io/os=linux")],
    );
}

#[test]
fn rows_carry_partial_object_metadata_by_default() {
    let p = pod(json!({"phase": "Running", "containerStatuses": [running(true)]}));
    let table = to_table("Pod", &[&p], now(), IncludeObject::Metadata, "42");
    let v = serde_json::to_value(&table).expect("a Table serializes");
    assert_eq!(v["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(v["kind"], "Table");
    assert_eq!(v["metadata"], json!({"resourceVersion": "42"}));
    assert_eq!(
        v["columnDefinitions"][0],
        json!({
            "name": "Name", "type": "string", "format": "name",
            "description": columns::NAME_DOC, "priority": 0,
        })
    );
    assert_eq!(v["rows"][0]["cells"][0], "nginx");
    assert_eq!(
        v["rows"][0]["object"],
        json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"name": "nginx", "namespace": "default", "creationTimestamp": ago(300)},
        })
    );
}

#[test]
fn rows_carry_the_whole_object_or_nothing_when_asked() {
    let p = pod(json!({"phase": "Running"}));
    let whole = to_table("Pod", &[&p], now(), IncludeObject::Object, "1");
    assert_eq!(whole.rows[0].object, p);
    let none = to_table("Pod", &[&p], now(), IncludeObject::None, "1");
    assert!(none.rows[0].object.is_null());
    let v = serde_json::to_value(&none).expect("a Table serializes");
    assert!(v["rows"][0].get("object").is_none());
    assert_eq!(IncludeObject::from_query(""), Some(IncludeObject::Metadata));
    assert_eq!(IncludeObject::from_query("Object"), Some(IncludeObject::Object));
    assert_eq!(IncludeObject::from_query("All"), None);
}

#[test]
fn kinds_without_a_printer_get_upstreams_default_table() {
    let cols = columns("Widget");
    assert_eq!((cols[0].name.as_str(), cols[0].format.as_str()), ("Name", "name"));
    assert_eq!((cols[1].name.as_str(), cols[1].type_.as_str()), ("Created At", "date"));
    let w = json!({"metadata": {"name": "w", "creationTimestamp": "2025-05-31T10:00:00Z"}});
    assert_eq!(row_cells("Widget", &w, now()), vec![json!("w"), json!("2025-05-31T10:00:00Z")]);
    assert_eq!(row_cells("Widget", &json!({}), now()), vec![json!(""), json!("0001-01-01T00:00:00Z")]);
}
