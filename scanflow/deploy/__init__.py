"""Models as running services (`scanflow deploy`, the `Deployment` node) and workflow exporters.

Deploying: `deployments` (deploy, list, remove on any backend), `model_source`
(the model's files and requirements), `serving_image` and `container` (what a
docker or swarm deployment runs), `local`, `docker`, `swarm` (one backend each),
`readiness`, `ports`, `naming`, `status`, and `step` (a Deployment node in a
run). Exporting: `compose` (Compose and Swarm stacks), `export_folder` (where an
export may write).
"""
