"""The official `kubernetes` Python client against the API server: list, create, patch, watch
and delete of a Deployment and an HPA, through the kubeconfig the server wrote."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.server.apiserver import ApiServerProcess, run_api_server

pytestmark = pytest.mark.process


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[client.ApiClient]:
    with run_api_server(tmp_path_factory.mktemp("home")) as server:
        yield _client(server)


def _client(server: ApiServerProcess) -> client.ApiClient:
    cfg = client.Configuration()
    config.load_kube_config(
        config_file=str(server.kubeconfig), client_configuration=cfg, persist_config=False
    )
    return client.ApiClient(cfg)


def test_deployment_lifecycle(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="main", image="nginx")]),
            ),
        ),
    )
    created = apps.create_namespaced_deployment("default", body)
    assert created.metadata.uid and created.metadata.generation == 1
    listed = apps.list_namespaced_deployment("default", label_selector="")
    assert [d.metadata.name for d in listed.items] == ["web"]
    patched = apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 4}})
    assert patched.spec.replicas == 4 and patched.metadata.generation == 2
    scale = apps.read_namespaced_deployment_scale("web", "default")
    assert scale.spec.replicas == 4 and scale.status.selector == "app=web"

    w = watch.Watch()
    seen = []
    for event in w.stream(
        apps.list_namespaced_deployment,
        "default",
        resource_version=listed.metadata.resource_version,
        timeout_seconds=10,
    ):
        seen.append((event["type"], event["object"].spec.replicas))
        if event["type"] == "MODIFIED":
            w.stop()
    assert seen == [("MODIFIED", 4)]

    apps.delete_namespaced_deployment("web", "default", propagation_policy="Foreground")
    with pytest.raises(ApiException) as exc:
        apps.read_namespaced_deployment("web", "default")
    assert exc.value.status == 404


def test_hpa_lifecycle(api: client.ApiClient) -> None:
    hpas = client.AutoscalingV2Api(api)
    body = client.V2HorizontalPodAutoscaler(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V2HorizontalPodAutoscalerSpec(
            scale_target_ref=client.V2CrossVersionObjectReference(
                api_version="apps/v1", kind="Deployment", name="web"
            ),
            min_replicas=1,
            max_replicas=5,
            metrics=[
                client.V2MetricSpec(
                    type="Resource",
                    resource=client.V2ResourceMetricSource(
                        name="cpu",
                        target=client.V2MetricTarget(type="Utilization", average_utilization=10),
                    ),
                )
            ],
        ),
    )
    hpas.create_namespaced_horizontal_pod_autoscaler("default", body)
    w = watch.Watch()
    stream = w.stream(hpas.list_namespaced_horizontal_pod_autoscaler, "default", timeout_seconds=10)
    first = next(stream)
    assert first["type"] == "ADDED" and first["object"].metadata.name == "web"
    w.stop()
    patched = hpas.patch_namespaced_horizontal_pod_autoscaler(
        "web", "default", {"spec": {"maxReplicas": 8}}
    )
    assert patched.spec.max_replicas == 8
    assert patched.spec.metrics[0].resource.target.average_utilization == 10
    items = hpas.list_namespaced_horizontal_pod_autoscaler("default").items
    assert [h.spec.max_replicas for h in items] == [8]
    with pytest.raises(ApiException) as exc:
        hpas.create_namespaced_horizontal_pod_autoscaler("default", body)
    assert exc.value.status == 409
    hpas.delete_namespaced_horizontal_pod_autoscaler("web", "default")
    assert hpas.list_namespaced_horizontal_pod_autoscaler("default").items == []
