#!/bin/sh
# Run once by the `createbucket` service (minio/mc image): a private bucket, the app's own user,
# and a policy that lets that user read, write and delete objects in that bucket only.
set -eu
mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing "local/$AWS_STORAGE_BUCKET_NAME"
mc anonymous set none "local/$AWS_STORAGE_BUCKET_NAME"
sed "s/BUCKET/$AWS_STORAGE_BUCKET_NAME/g" /deploy/portal-policy.json > /tmp/portal-policy.json
mc admin policy create local portal-bucket /tmp/portal-policy.json
mc admin user add local "$MINIO_APP_ACCESS_KEY" "$MINIO_APP_SECRET_KEY"
# A re-run finds the policy attached already (attaching twice is an error).
if ! mc admin user info local "$MINIO_APP_ACCESS_KEY" | grep -q portal-bucket; then
    mc admin policy attach local portal-bucket --user "$MINIO_APP_ACCESS_KEY"
fi
