//! What the kubelet gives a container, checked from inside it on a real containerd: the
//! environment (downward API, `resourceFieldRef`, `$(VAR)` expansion in env and args),
//! cgroup limits from `resources` under the pod's QoS cgroup, a `medium: Memory` emptyDir
//! as tmpfs, the managed `/etc/hosts`, the termination-log message in the status, and the
//! preStop hook running before the stop.

mod kubelet_node;

use std::time::Duration;

use kubelet_node::{eventually, exec, remove_and_wait_until_gone, running, Node};

fn manifest(prestop_dir: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: cfg
  labels:
    app: web
spec:
  terminationGracePeriodSeconds: 5
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: [/bin/sh, -c]
    args: ['echo $(GREETING); exec sleep 3600']
    env:
    - name: POD_NAME
      valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}
    - name: APP
      valueFrom: {{fieldRef: {{fieldPath: "metadata.labels['app']"}}}}
    - name: POD_IP
      valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}
    - name: GREETING
      value: hello $(POD_NAME)
    - name: MEM_MIB
      valueFrom: {{resourceFieldRef: {{resource: limits.memory, divisor: 1Mi}}}}
    resources:
      requests: {{cpu: 250m, memory: 32Mi}}
      limits: {{cpu: 500m, memory: 64Mi}}
    lifecycle:
      preStop:
        exec:
          command: [/bin/sh, -c, 'echo stopping > /prestop/main']
    volumeMounts:
    - {{name: cache, mountPath: /cache}}
    - {{name: prestop, mountPath: /prestop}}
  - name: done
    image: busybox
    command: [/bin/sh, -c, 'echo goodbye > /dev/termination-log; exit 3']
  volumes:
  - name: cache
    emptyDir: {{medium: Memory, sizeLimit: 16Mi}}
  - name: prestop
    hostPath: {{path: {prestop_dir}, type: DirectoryOrCreate}}
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_gets_its_env_limits_tmpfs_hosts_file_termination_message_and_pre_stop_hook() -> anyhow::Result<()> {
    let node = Node::start()?;
    let prestop_dir = node.dir.join("prestop");
    std::fs::write(node.manifest("cfg.yaml"), manifest(&prestop_dir.display().to_string()))?;
    let cri = node.cri().await?;
    let done = eventually("main running and done terminated", Duration::from_secs(60), &node, || async {
        let (Some(main), Some(done)) = (node.container_status("cfg", "main")?, node.container_status("cfg", "done")?) else {
            return Ok(None);
        };
        Ok((main.state.running.is_some() && done.state.terminated.is_some()).then_some(done))
    })
    .await?;
    let t = done.state.terminated.expect("terminated");
    assert_eq!((t.exit_code, t.message.as_str()), (3, "goodbye\n"), "the termination-log file is the message");

    let pod = node.pod("cfg")?.expect("pod");
    let ip = pod.status.pod_ip.clone();
    let id = running(&cri).await?.into_iter().find(|(n, _)| n == "main").expect("main runs").1;
    let env = exec(&cri, &id, "echo $POD_NAME $APP $POD_IP $MEM_MIB").await?;
    assert_eq!(env.trim(), format!("cfg-node1 web {ip} 64"));
    // $(GREETING) is expanded in args, after $(POD_NAME) in env.
    eventually("main's first log line", Duration::from_secs(10), &node, || async {
        let (_, log) = node.get("/containerLogs/default/cfg-node1/main")?;
        Ok((log == "hello cfg-node1\n").then_some(()))
    })
    .await?;

    let memory = exec(&cri, &id, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes").await?;
    assert_eq!(memory.trim(), (64 << 20).to_string());
    let quota = exec(&cri, &id, "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares").await?;
    assert_eq!(quota.split_whitespace().collect::<Vec<_>>(), ["50000", "256"]);
    let pod_cgroup = format!("/sys/fs/cgroup/memory/kubepods/burstable/pod{}", pod.metadata.uid);
    assert!(std::path::Path::new(&pod_cgroup).is_dir(), "the pod's cgroup {pod_cgroup}");

    let mounts = exec(&cri, &id, "grep ' /cache ' /proc/mounts").await?;
    assert!(mounts.starts_with("tmpfs /cache tmpfs") && mounts.contains("size=16384k"), "{mounts}");
    let hosts = exec(&cri, &id, "cat /etc/hosts").await?;
    assert!(hosts.starts_with("# Kubernetes-managed hosts file.") && hosts.contains(&format!("{ip}\tcfg-node1\n")), "{hosts}");

    remove_and_wait_until_gone(&node, "cfg.yaml").await?;
    assert_eq!(std::fs::read_to_string(prestop_dir.join("main"))?, "stopping\n", "preStop ran before the stop");
    assert!(!std::path::Path::new(&pod_cgroup).exists(), "the pod's cgroup is removed");
    Ok(())
}
