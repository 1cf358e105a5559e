//! Quota counters in `{prefix}-quotas`: one conditional `UpdateItem` per use.
//!
//! `ADD count 1` runs only while `count < limit` (or the item is new), so
//! concurrent Lambdas never count past the limit; TTL removes ended windows.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use coda_core::ports::QuotaCounters;
use coda_core::{CodaError, Result};

use crate::dynamo::{PK, TTL};
use crate::error::sdk_error;

const COUNT: &str = "count";

/// The quotas table.
#[derive(Clone, Debug)]
pub struct DynamoQuotaCounters {
    client: Client,
    table: String,
}

impl DynamoQuotaCounters {
    /// The table named `table`.
    pub fn new(client: Client, table: &str) -> Self {
        DynamoQuotaCounters {
            client,
            table: table.to_string(),
        }
    }
}

#[async_trait]
impl QuotaCounters for DynamoQuotaCounters {
    async fn take(&self, key: &str, limit: u64, expires_at: DateTime<Utc>) -> Result<Option<u64>> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(key.to_string()))
            .update_expression("ADD #c :one SET #ttl = if_not_exists(#ttl, :ttl)")
            .condition_expression("attribute_not_exists(#c) OR #c < :limit")
            .expression_attribute_names("#c", COUNT)
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(
                ":ttl",
                AttributeValue::N(expires_at.timestamp().to_string()),
            )
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match out {
            Ok(o) => {
                let count = o
                    .attributes()
                    .and_then(|a| a.get(COUNT))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<u64>().ok())
                    .ok_or_else(|| {
                        CodaError::Internal(format!("quota counter '{key}' returned no count"))
                    })?;
                Ok(Some(count))
            }
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(sdk_error(&format!("quota counter '{key}'"), e)),
        }
    }

    async fn give_back(&self, key: &str) -> Result<()> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(key.to_string()))
            .update_expression("ADD #c :minus")
            .condition_expression("#c > :zero")
            .expression_attribute_names("#c", COUNT)
            .expression_attribute_values(":minus", AttributeValue::N("-1".into()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            // Nothing counted (or the window is gone): nothing to give back.
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_error(&format!("quota counter '{key}'"), e)),
        }
    }
}
