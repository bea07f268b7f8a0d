#!/bin/bash
# Runs once, after the influxdb:2 image's first-start setup (org, bucket,
# admin token from DOCKER_INFLUXDB_INIT_*), with the influx CLI already
# configured against the setup server. Maps the v1 database/retention policy
# "${INFLUX_V1_DB}/autogen" onto the bucket, so InfluxQL (Grafana's
# dashboards) and v1 /write clients reach it.
set -euo pipefail

db="${INFLUX_V1_DB:-greengate}"
bucket_id="$(influx bucket list \
  --org "${DOCKER_INFLUXDB_INIT_ORG}" \
  --name "${DOCKER_INFLUXDB_INIT_BUCKET}" \
  --hide-headers | cut -f 1)"
if [ -z "${bucket_id}" ]; then
  echo "10-dbrp.sh: bucket ${DOCKER_INFLUXDB_INIT_BUCKET} not found" >&2
  exit 1
fi
influx v1 dbrp create \
  --org "${DOCKER_INFLUXDB_INIT_ORG}" \
  --bucket-id "${bucket_id}" \
  --db "${db}" \
  --rp autogen \
  --default
echo "10-dbrp.sh: v1 database ${db}/autogen -> bucket ${DOCKER_INFLUXDB_INIT_BUCKET} (${bucket_id})"
