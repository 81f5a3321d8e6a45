"""The data store's name on Kubernetes (issue 15), one constant for the hub (which mounts it read-only, one
``subPath`` per granted file: ``gereedschapskist.hub.kubernetes_data``) and infra (which creates it in the cluster
stage: ``gereedschapskist.infra.manifests``)."""

#: The data store's PersistentVolumeClaim in the hub's namespace.
DATASETS_CLAIM = "gereedschapskist-datasets"
