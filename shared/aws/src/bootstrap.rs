//! Creates (or brings up to date) every resource Coda needs. Idempotent: each
//! step looks before it creates, and settings are written every time so a
//! second run with other values updates them.

use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, IndexStatus, KeySchemaElement, KeyType,
    Projection, ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
    TimeToLiveStatus,
};
use aws_sdk_s3::operation::create_bucket::CreateBucketError;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Event, FilterRule, FilterRuleName,
    NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;
use coda_core::{CodaError, Result};
use serde_json::json;

use crate::dynamo::{CREATED_KEY, OWNER, PK, TTL};
use crate::error::sdk_error;
use crate::names::{AwsNames, INGEST_MAX_RECEIVES, JOBS_BY_OWNER_INDEX, UPLOADS_PREFIX};
use crate::s3::s3_client;
use crate::sqs::queue_url;

/// How long a new table may take to become active.
const TABLE_READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Dead letters are kept as long as SQS allows (14 days), for inspection.
const DLQ_RETENTION_SECS: u32 = 14 * 24 * 3600;

/// SQS accepts a `maxReceiveCount` of 1 to 1000.
const MAX_RECEIVES_LIMIT: u32 = 1000;

/// Creates the bucket, queues (with redrive and S3's send permission), the
/// upload notification and the tables; `max_receives` is the jobs queue's redrive count.
pub async fn bootstrap(names: &AwsNames, sdk_config: &SdkConfig, max_receives: u32) -> Result<()> {
    if !(1..=MAX_RECEIVES_LIMIT).contains(&max_receives) {
        return Err(CodaError::bad_request(
            "INVALID_MAX_RECEIVES",
            format!("max_receives must be 1 to {MAX_RECEIVES_LIMIT}, not {max_receives}"),
        ));
    }
    let sqs = aws_sdk_sqs::Client::new(sdk_config);
    let s3 = s3_client(sdk_config);
    let dynamo = aws_sdk_dynamodb::Client::new(sdk_config);
    let bucket_arn = format!("arn:aws:s3:::{}", names.bucket);

    // Queues first: S3 checks that it may send to the queue when the notification is set.
    let jobs_dlq = ensure_queue(&sqs, &names.jobs_dlq).await?;
    let ingest_dlq = ensure_queue(&sqs, &names.ingest_dlq).await?;
    let jobs = ensure_queue(&sqs, &names.jobs_queue).await?;
    let ingest = ensure_queue(&sqs, &names.ingest_queue).await?;
    for dlq in [&jobs_dlq, &ingest_dlq] {
        set_attributes(
            &sqs,
            dlq,
            &[(
                QueueAttributeName::MessageRetentionPeriod,
                DLQ_RETENTION_SECS.to_string(),
            )],
        )
        .await?;
    }
    let jobs_dlq_arn = queue_arn(&sqs, &jobs_dlq).await?;
    let ingest_dlq_arn = queue_arn(&sqs, &ingest_dlq).await?;
    let ingest_arn = queue_arn(&sqs, &ingest).await?;
    set_attributes(
        &sqs,
        &jobs,
        &[(
            QueueAttributeName::RedrivePolicy,
            redrive(&jobs_dlq_arn, max_receives),
        )],
    )
    .await?;
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "s3-upload-notifications",
            "Effect": "Allow",
            "Principal": { "Service": "s3.amazonaws.com" },
            "Action": "sqs:SendMessage",
            "Resource": ingest_arn,
            "Condition": { "ArnEquals": { "aws:SourceArn": bucket_arn } }
        }]
    });
    set_attributes(
        &sqs,
        &ingest,
        &[
            (
                QueueAttributeName::RedrivePolicy,
                redrive(&ingest_dlq_arn, INGEST_MAX_RECEIVES),
            ),
            (QueueAttributeName::Policy, policy.to_string()),
        ],
    )
    .await?;

    ensure_bucket(&s3, &names.bucket, sdk_config).await?;
    let rule = FilterRule::builder()
        .name(FilterRuleName::Prefix)
        .value(UPLOADS_PREFIX)
        .build();
    let queue_config = QueueConfiguration::builder()
        .id("coda-ingest")
        .queue_arn(&ingest_arn)
        .events(Event::S3ObjectCreated)
        .filter(
            NotificationConfigurationFilter::builder()
                .key(S3KeyFilter::builder().filter_rules(rule).build())
                .build(),
        )
        .build()
        .map_err(CodaError::internal)?;
    s3.put_bucket_notification_configuration()
        .bucket(&names.bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(queue_config)
                .build(),
        )
        .send()
        .await
        .map_err(|e| sdk_error(&format!("notification of '{}'", names.bucket), e))?;

    ensure_table(&dynamo, &names.sessions_table, false).await?;
    ensure_table(&dynamo, &names.uploads_table, false).await?;
    ensure_table(&dynamo, &names.jobs_table, true).await?;
    ensure_ttl(&dynamo, &names.sessions_table).await?;
    ensure_ttl(&dynamo, &names.uploads_table).await?;
    Ok(())
}

fn redrive(dlq_arn: &str, max_receives: u32) -> String {
    json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives }).to_string()
}

async fn ensure_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<String> {
    if let Some(url) = queue_url(sqs, name).await? {
        return Ok(url);
    }
    let out = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("create queue '{name}'"), e))?;
    out.queue_url()
        .map(str::to_string)
        .ok_or_else(|| CodaError::Internal(format!("queue '{name}' was created without a URL")))
}

async fn set_attributes(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    attributes: &[(QueueAttributeName, String)],
) -> Result<()> {
    let mut req = sqs.set_queue_attributes().queue_url(url);
    for (name, value) in attributes {
        req = req.attributes(name.clone(), value);
    }
    req.send()
        .await
        .map_err(|e| sdk_error(&format!("set attributes of '{url}'"), e))?;
    Ok(())
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("ARN of '{url}'"), e))?;
    out.attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| CodaError::Internal(format!("queue '{url}' has no ARN")))
}

async fn ensure_bucket(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    sdk_config: &SdkConfig,
) -> Result<()> {
    let mut req = s3.create_bucket().bucket(bucket);
    // us-east-1 is S3's default location and refuses to be named as a constraint.
    if let Some(region) = sdk_config
        .region()
        .map(|r| r.as_ref())
        .filter(|r| *r != "us-east-1")
    {
        req = req.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    match req.send().await {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(CreateBucketError::BucketAlreadyOwnedByYou(_))
            ) =>
        {
            Ok(())
        }
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(CreateBucketError::BucketAlreadyExists(_))
            ) =>
        {
            Err(CodaError::Conflict {
                code: "BUCKET_TAKEN",
                message: format!(
                    "bucket '{bucket}' belongs to another account: choose another prefix"
                ),
            })
        }
        Err(e) => Err(sdk_error(&format!("create bucket '{bucket}'"), e)),
    }
}

fn string_attribute(name: &str) -> Result<AttributeDefinition> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(CodaError::internal)
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(CodaError::internal)
}

/// Creates the table keyed by `pk` (plus the owner index for jobs) unless it exists, then waits until it is active.
async fn ensure_table(
    dynamo: &aws_sdk_dynamodb::Client,
    name: &str,
    owner_index: bool,
) -> Result<()> {
    let mut req = dynamo
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(string_attribute(PK)?)
        .key_schema(key(PK, KeyType::Hash)?);
    if owner_index {
        req = req
            .attribute_definitions(string_attribute(OWNER)?)
            .attribute_definitions(string_attribute(CREATED_KEY)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(JOBS_BY_OWNER_INDEX)
                    .key_schema(key(OWNER, KeyType::Hash)?)
                    .key_schema(key(CREATED_KEY, KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(CodaError::internal)?,
            );
    }
    match req.send().await {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(CreateTableError::ResourceInUseException(_))
            ) => {}
        Err(e) => return Err(sdk_error(&format!("create table '{name}'"), e)),
    }
    let started = Instant::now();
    loop {
        let out = dynamo
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("describe table '{name}'"), e))?;
        let table = out.table();
        let active = table.and_then(|t| t.table_status()) == Some(&TableStatus::Active);
        let indexes_active = table.is_none_or(|t| {
            t.global_secondary_indexes()
                .iter()
                .all(|i| i.index_status().is_none_or(|s| *s == IndexStatus::Active))
        });
        if active && indexes_active {
            return Ok(());
        }
        if started.elapsed() > TABLE_READY_TIMEOUT {
            return Err(CodaError::Unavailable(format!(
                "table '{name}' is not active after {TABLE_READY_TIMEOUT:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Turns TTL on for the `ttl` attribute unless it is on (DynamoDB refuses to enable it twice).
async fn ensure_ttl(dynamo: &aws_sdk_dynamodb::Client, table: &str) -> Result<()> {
    let out = dynamo
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("describe TTL of '{table}'"), e))?;
    let status = out
        .time_to_live_description()
        .and_then(|d| d.time_to_live_status());
    if matches!(
        status,
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    ) {
        return Ok(());
    }
    dynamo
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(TTL)
                .build()
                .map_err(CodaError::internal)?,
        )
        .send()
        .await
        .map_err(|e| sdk_error(&format!("enable TTL on '{table}'"), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redrive_policy_names_the_dlq_and_count() {
        let v: serde_json::Value =
            serde_json::from_str(&redrive("arn:aws:sqs:us-east-1:1:q-dlq", 4)).unwrap();
        assert_eq!(
            v,
            json!({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:1:q-dlq", "maxReceiveCount": 4})
        );
    }
}
