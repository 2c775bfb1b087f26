//! The patch strategies of the built-in kinds: which lists are merged item by item (and by
//! which key), which are merged as sets, and which maps clear the keys a patch does not name.
//!
//! Upstream keeps this knowledge in struct tags of the Go types
//! (`patchStrategy:"merge" patchMergeKey:"name"`), read by reflection or from the OpenAPI
//! document (`x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`). Here it is one
//! table, by *path within the kind*: a path is the field names from the object's root, with
//! list items left out, joined by dots (`spec.template.spec.containers.env` is the `env` of
//! every container of a Deployment's pod template).
//!
//! Every list that is not in the table has no patch strategy: a patch *replaces* it whole
//! (`tolerations`, `spec.taints` of a Node, `subsets` of Endpoints, `status.containerStatuses`
//! of a Pod). Maps not in the table are merged key by key.
//!
//! The tags are upstream's as of v1.33 (`k8s.io/api/core/v1/types.go`, `apps/v1`, `batch/v1`,
//! `meta/v1`). Server-side apply ([`crate::apply`]) uses the same table to name list items.

/// How a patch is merged into one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// A list of objects merged item by item; items are matched by the value of this field
    /// (`patchStrategy:"merge" patchMergeKey:"name"`).
    MergeByKey(&'static str),
    /// As [`Strategy::MergeByKey`], and each item is also [`Strategy::RetainKeys`]
    /// (`patchStrategy:"merge,retainKeys"`, e.g. volumes: switching a volume from
    /// `emptyDir` to `hostPath` must drop `emptyDir`).
    MergeByKeyRetainKeys(&'static str),
    /// A list of scalars merged as a set: a patch adds its values to the ones already
    /// there (`patchStrategy:"merge"` on `[]string`, e.g. `metadata.finalizers`).
    MergeSet,
    /// A map whose patches may carry `$retainKeys`: the keys the patch does not list are
    /// cleared (`patchStrategy:"retainKeys"`, e.g. a Deployment's `spec.strategy`).
    RetainKeys,
}

impl Strategy {
    /// The merge key of a list merged item by item.
    pub fn merge_key(self) -> Option<&'static str> {
        match self {
            Strategy::MergeByKey(key) | Strategy::MergeByKeyRetainKeys(key) => Some(key),
            _ => None,
        }
    }
}

use Strategy::*;

/// Lists of every `ObjectMeta`: the object's own `metadata` and a pod template's.
#[rustfmt::skip]
const OBJECT_META: &[(&str, Strategy)] = &[
    ("ownerReferences", MergeByKey("uid")),
    ("finalizers", MergeSet),
];

/// Fields of a `PodSpec`, relative to it.
const POD_SPEC: &[(&str, Strategy)] = &[
    ("volumes", MergeByKeyRetainKeys("name")),
    ("initContainers", MergeByKey("name")),
    ("containers", MergeByKey("name")),
    ("ephemeralContainers", MergeByKey("name")),
    ("imagePullSecrets", MergeByKey("name")),
    ("hostAliases", MergeByKey("ip")),
    ("topologySpreadConstraints", MergeByKey("topologyKey")),
    ("schedulingGates", MergeByKey("name")),
    ("resourceClaims", MergeByKeyRetainKeys("name")),
    // tolerations, readinessGates, nodeSelector terms: no strategy, replaced whole.
];

/// Fields of a `Container` (also of init and ephemeral containers), relative to it.
const CONTAINER: &[(&str, Strategy)] = &[
    ("ports", MergeByKey("containerPort")),
    ("env", MergeByKey("name")),
    ("volumeMounts", MergeByKey("mountPath")),
    ("volumeDevices", MergeByKey("devicePath")),
    // envFrom, args, command, resizePolicy: replaced whole.
];

/// The container lists of a `PodSpec`: each item is a `Container`.
const CONTAINER_LISTS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];

/// Where a `PodSpec` sits in each kind that carries one.
const POD_SPECS: &[(&str, &str)] = &[
    ("Pod", "spec"),
    ("PodTemplate", "template.spec"),
    ("ReplicationController", "spec.template.spec"),
    ("Deployment", "spec.template.spec"),
    ("ReplicaSet", "spec.template.spec"),
    ("StatefulSet", "spec.template.spec"),
    ("DaemonSet", "spec.template.spec"),
    ("Job", "spec.template.spec"),
    ("CronJob", "spec.jobTemplate.spec.template.spec"),
];

/// Everything else, by kind and full path.
const KIND_FIELDS: &[(&str, &str, Strategy)] = &[
    ("Pod", "status.conditions", MergeByKey("type")),
    ("Pod", "status.podIPs", MergeByKey("ip")),
    ("Pod", "status.hostIPs", MergeByKey("ip")),
    ("Pod", "status.resourceClaimStatuses", MergeByKeyRetainKeys("name")),
    // status.containerStatuses: no strategy upstream, replaced whole.
    ("Node", "spec.podCIDRs", MergeSet),
    ("Node", "status.conditions", MergeByKey("type")),
    ("Node", "status.addresses", MergeByKey("type")),
    // spec.taints, status.images, status.volumesAttached: replaced whole.
    ("Service", "spec.ports", MergeByKey("port")),
    ("Service", "status.conditions", MergeByKey("type")),
    ("Namespace", "status.conditions", MergeByKey("type")),
    ("ServiceAccount", "secrets", MergeByKey("name")),
    // Endpoints subsets: replaced whole.
    ("ReplicationController", "status.conditions", MergeByKey("type")),
    ("Deployment", "spec.strategy", RetainKeys),
    ("Deployment", "status.conditions", MergeByKey("type")),
    ("ReplicaSet", "status.conditions", MergeByKey("type")),
    ("StatefulSet", "status.conditions", MergeByKey("type")),
    ("DaemonSet", "status.conditions", MergeByKey("type")),
    ("Job", "status.conditions", MergeByKey("type")),
];

/// The strategy of the field at `path` (field names from the root, list items left out)
/// in an object of `kind`; `None` means "lists are replaced, maps are merged".
pub fn strategy_for(kind: &str, path: &[&str]) -> Option<Strategy> {
    let dotted = path.join(".");
    if let Some((_, _, strategy)) = KIND_FIELDS.iter().find(|(k, p, _)| *k == kind && *p == dotted) {
        return Some(*strategy);
    }
    // ObjectMeta: `metadata.X` at the root or in any pod template (`...template.metadata.X`).
    if let [prefix @ .., "metadata", field] = path {
        if prefix.is_empty() || prefix.last() == Some(&"template") {
            return lookup(OBJECT_META, field);
        }
    }
    for (_, spec_path) in POD_SPECS.iter().filter(|(k, _)| *k == kind) {
        let Some(rest) = dotted.strip_prefix(spec_path).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        if let Some(strategy) = lookup(POD_SPEC, rest) {
            return Some(strategy);
        }
        for list in CONTAINER_LISTS {
            if let Some(field) = rest.strip_prefix(list).and_then(|r| r.strip_prefix('.')) {
                return lookup(CONTAINER, field);
            }
        }
    }
    None
}

fn lookup(table: &[(&str, Strategy)], field: &str) -> Option<Strategy> {
    table.iter().find(|(name, _)| *name == field).map(|(_, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_answers_by_path_within_the_kind() {
        let cases: &[(&str, &str, Option<Strategy>)] = &[
            ("Pod", "spec.containers", Some(MergeByKey("name"))),
            ("Pod", "spec.containers.ports", Some(MergeByKey("containerPort"))),
            ("Pod", "spec.initContainers.env", Some(MergeByKey("name"))),
            ("Pod", "spec.volumes", Some(MergeByKeyRetainKeys("name"))),
            ("Pod", "spec.tolerations", None),
            ("Pod", "status.containerStatuses", None),
            ("Deployment", "spec.template.spec.containers.volumeMounts", Some(MergeByKey("mountPath"))),
            ("Deployment", "spec.template.metadata.finalizers", Some(MergeSet)),
            ("Deployment", "spec.containers", None),
            ("Job", "spec.template.spec.hostAliases", Some(MergeByKey("ip"))),
            ("ConfigMap", "metadata.finalizers", Some(MergeSet)),
            ("Secret", "metadata.ownerReferences", Some(MergeByKey("uid"))),
            ("Service", "spec.ports", Some(MergeByKey("port"))),
            ("Node", "spec.podCIDRs", Some(MergeSet)),
            ("Node", "spec.taints", None),
            ("Endpoints", "subsets", None),
        ];
        for (kind, path, want) in cases {
            let path: Vec<&str> = path.split('.').collect();
            assert_eq!(strategy_for(kind, &path), *want, "{kind} {path:?}");
        }
    }
}
