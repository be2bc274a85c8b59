//! [`ObjectStore`] on S3. `put` is a single PutObject (S3 replaces atomically);
//! `put_if_absent` is a conditional PutObject with `If-None-Match: *` (S3 answers 412
//! PreconditionFailed when the key exists, 409 ConditionalRequestConflict on a concurrent
//! conditional write; moto 5.2.5 implements the same); both become `Conflict`.

use crate::AwsClients;
use crate::error::{self, Failure};
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use store::{ObjectMeta, ObjectStore, Result, StoreError};

#[derive(Debug, Clone)]
pub struct S3ObjectStore {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3ObjectStore {
    pub fn new(clients: &AwsClients, bucket: &str) -> Self {
        Self {
            client: clients.s3.clone(),
            bucket: bucket.to_owned(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn what(&self, op: &str, key: &str) -> String {
        format!("S3 {op} s3://{}/{key}", self.bucket)
    }
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| error::map(e, self.what("PutObject", key)))?;
        Ok(())
    }

    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<()> {
        let res = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) => {
                let f = Failure::of(&e);
                if matches!(f.status, Some(412 | 409))
                    || f.is_code("PreconditionFailed")
                    || f.is_code("ConditionalRequestConflict")
                {
                    Err(StoreError::Conflict(format!(
                        "{}: the object exists",
                        self.what("PutObject(If-None-Match)", key)
                    )))
                } else {
                    Err(f.into_store(self.what("PutObject(If-None-Match)", key)))
                }
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let f = Failure::of(&e);
                return Err(if f.status == Some(404) || f.is_code("NoSuchKey") {
                    StoreError::NotFound(self.what("GetObject", key))
                } else {
                    f.into_store(self.what("GetObject", key))
                });
            }
        };
        let bytes = out.body.collect().await.map_err(|e| {
            StoreError::Transient(format!(
                "{}: reading the body: {e}",
                self.what("GetObject", key)
            ))
        })?;
        Ok(bytes.into_bytes().to_vec())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| error::map(e, self.what("ListObjectsV2", prefix)))?;
            for o in page.contents() {
                if let Some(key) = o.key() {
                    out.push(ObjectMeta {
                        key: key.to_owned(),
                        size: o.size().unwrap_or(0).max(0) as u64,
                    });
                }
            }
        }
        // S3 lists in UTF-8 binary order already; sort anyway so every backend agrees.
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| error::map(e, self.what("DeleteObject", key)))?;
        Ok(())
    }
}
