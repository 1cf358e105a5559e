//! A session's chat messages and file records in `{prefix}-session-items`, outside the session's row.
//!
//! Items share the session's id as partition key `pk`; the sort key `sk` is
//! `m#{seq:012}` for a message (so a query lists them in order, either way) and
//! `f#{name}` for a file record. A message takes the next sequence number with
//! a conditional put, so concurrent appends never overwrite each other; every
//! read is strongly consistent.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use coda_core::model::{ChatMessage, Page, SessionFile};
use coda_core::ports::SessionItems;
use coda_core::services::ConflictRetry;
use coda_core::{CodaError, Result};

use crate::dynamo::{BODY, PK, SK};
use crate::error::sdk_error;

const MESSAGE: &str = "m#";
const FILE: &str = "f#";
/// How often an append retries after another append took its sequence number.
const APPEND_ATTEMPTS: u32 = 32;

/// The session items table.
#[derive(Clone, Debug)]
pub struct DynamoSessionItems {
    client: Client,
    table: String,
}

impl DynamoSessionItems {
    /// The table named `table`.
    pub fn new(client: Client, table: &str) -> Self {
        DynamoSessionItems {
            client,
            table: table.to_string(),
        }
    }

    /// One page of a session's items under `prefix`, after the sort key `after`.
    async fn query(
        &self,
        session_id: &str,
        prefix: &str,
        after: Option<&str>,
        forward: bool,
        limit: Option<i32>,
    ) -> Result<(Vec<HashMap<String, AttributeValue>>, bool)> {
        let req = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .scan_index_forward(forward)
            .set_limit(limit)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", AttributeValue::S(session_id.into()));
        let req = match after {
            // After one sort key, still within the prefix.
            Some(after) => req
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :after AND :end")
                .expression_attribute_values(":after", AttributeValue::S(format!("{after}\0")))
                .expression_attribute_values(
                    ":end",
                    AttributeValue::S(format!("{prefix}\u{10ffff}")),
                ),
            None => req
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.into())),
        };
        let out = req
            .send()
            .await
            .map_err(|e| sdk_error(&format!("query '{}'", self.table), e))?;
        let more = out.last_evaluated_key.is_some();
        Ok((out.items.unwrap_or_default(), more))
    }

    /// Every sort key of a session, all pages.
    async fn all_keys(&self, session_id: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", AttributeValue::S(session_id.into()))
                .projection_expression("#sk")
                .expression_attribute_names("#sk", SK)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(&format!("query '{}'", self.table), e))?;
            for item in out.items.unwrap_or_default() {
                keys.push(text(&item, SK)?.to_string());
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(keys),
            }
        }
    }
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Result<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| CodaError::Internal(format!("session item without '{name}'")))
}

fn decode<T: serde::de::DeserializeOwned>(item: &HashMap<String, AttributeValue>) -> Result<T> {
    serde_json::from_str(text(item, BODY)?)
        .map_err(|e| CodaError::Internal(format!("cannot decode session item: {e}")))
}

fn message_key(seq: u64) -> String {
    format!("{MESSAGE}{seq:012}")
}

fn seq_of(sk: &str) -> Result<u64> {
    sk.strip_prefix(MESSAGE)
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| CodaError::Internal(format!("message key '{sk}' has no sequence number")))
}

#[async_trait]
impl SessionItems for DynamoSessionItems {
    async fn append_message(&self, session_id: &str, message: &ChatMessage) -> Result<()> {
        let body = serde_json::to_string(message).map_err(CodaError::internal)?;
        let mut retry = ConflictRetry::new(format!("session '{session_id}'"), APPEND_ATTEMPTS);
        loop {
            let (last, _) = self
                .query(session_id, MESSAGE, None, false, Some(1))
                .await?;
            let next = match last.first() {
                Some(item) => seq_of(text(item, SK)?)? + 1,
                None => 1,
            };
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(PK, AttributeValue::S(session_id.into()))
                .item(SK, AttributeValue::S(message_key(next)))
                .item(BODY, AttributeValue::S(body.clone()))
                .condition_expression("attribute_not_exists(#sk)")
                .expression_attribute_names("#sk", SK)
                .send()
                .await;
            match result {
                Ok(_) => return Ok(()),
                // Another append took this number first: read the new last one and try the next.
                Err(e)
                    if matches!(
                        e.as_service_error(),
                        Some(PutItemError::ConditionalCheckFailedException(_))
                    ) =>
                {
                    retry.wait().await?
                }
                Err(e) => return Err(sdk_error(&format!("append to '{}'", self.table), e)),
            }
        }
    }

    async fn list_messages(
        &self,
        session_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<ChatMessage>> {
        let after = match cursor {
            Some(c) => Some(message_key(c.parse().map_err(|_| {
                CodaError::bad_request("INVALID_CURSOR", "cursor is not one this listing returned")
            })?)),
            None => None,
        };
        let limit = limit.max(1);
        let take = i32::try_from(limit + 1).unwrap_or(i32::MAX);
        let (items, _) = self
            .query(session_id, MESSAGE, after.as_deref(), true, Some(take))
            .await?;
        let more = items.len() > limit;
        let items = &items[..items.len().min(limit)];
        let next_cursor = match (more, items.last()) {
            (true, Some(last)) => Some(seq_of(text(last, SK)?)?.to_string()),
            _ => None,
        };
        Ok(Page {
            items: items.iter().map(decode).collect::<Result<_>>()?,
            next_cursor,
        })
    }

    async fn latest_messages(&self, session_id: &str, limit: usize) -> Result<Vec<ChatMessage>> {
        let take = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
        let (items, _) = self
            .query(session_id, MESSAGE, None, false, Some(take))
            .await?;
        let mut out: Vec<ChatMessage> = items.iter().map(decode).collect::<Result<_>>()?;
        out.reverse();
        Ok(out)
    }

    async fn put_file(&self, session_id: &str, file: &SessionFile) -> Result<()> {
        let body = serde_json::to_string(file).map_err(CodaError::internal)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, AttributeValue::S(session_id.into()))
            .item(SK, AttributeValue::S(format!("{FILE}{}", file.name)))
            .item(BODY, AttributeValue::S(body))
            .send()
            .await
            .map_err(|e| sdk_error(&format!("put file record in '{}'", self.table), e))?;
        Ok(())
    }

    async fn list_files(&self, session_id: &str) -> Result<Vec<SessionFile>> {
        let mut files = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (items, more) = self
                .query(session_id, FILE, after.as_deref(), true, None)
                .await?;
            for item in &items {
                files.push(decode(item)?);
            }
            match (more, items.last()) {
                (true, Some(last)) => after = Some(text(last, SK)?.to_string()),
                _ => return Ok(files),
            }
        }
    }

    async fn delete_all(&self, session_id: &str) -> Result<()> {
        let keys = self.all_keys(session_id).await?;
        // BatchWriteItem takes 25 requests at a time.
        for chunk in keys.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|sk| {
                    DeleteRequest::builder()
                        .key(PK, AttributeValue::S(session_id.into()))
                        .key(SK, AttributeValue::S(sk.clone()))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(CodaError::internal)
                })
                .collect::<Result<_>>()?;
            for _ in 0..8 {
                if requests.is_empty() {
                    break;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests.clone())
                    .send()
                    .await
                    .map_err(|e| sdk_error(&format!("delete from '{}'", self.table), e))?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
            }
            if !requests.is_empty() {
                return Err(CodaError::Unavailable(format!(
                    "'{}' kept refusing deletes for session '{session_id}'",
                    self.table
                )));
            }
        }
        Ok(())
    }
}
