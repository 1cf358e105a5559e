//! Creates (or brings up to date) every resource Coda needs. Idempotent: each
//! step looks before it creates, and settings are written every time so a
//! second run with other values updates them.

use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::operation::update_table::UpdateTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TableDescription, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_s3::operation::create_bucket::CreateBucketError;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Event, FilterRule, FilterRuleName,
    NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;
use coda_core::{CodaError, Result};
use serde_json::json;

use crate::dynamo::{
    CREATED_KEY, DUE, DUE_KEY, OUTBOX, OUTBOX_KEY, OWNER, PK, SK, TTL, WEBHOOK_ID,
};
use crate::error::sdk_error;
use crate::names::{
    AwsNames, DELIVERIES_BY_WEBHOOK_INDEX, DELIVERIES_DUE_INDEX, INGEST_MAX_RECEIVES,
    JOBS_BY_OWNER_INDEX, JOBS_WITH_OUTBOX_INDEX, UPLOADS_PREFIX, WEBHOOKS_BY_OWNER_INDEX,
};
use crate::s3::s3_client;
use crate::sqs::queue_url;

/// How long a new table may take to become active.
const TABLE_READY_TIMEOUT: Duration = Duration::from_secs(120);

/// How long an index added to an existing table may take to backfill.
const INDEX_READY_TIMEOUT: Duration = Duration::from_secs(600);

/// A global secondary index: string hash and range keys, every attribute projected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexSpec {
    /// The index name.
    pub name: &'static str,
    /// Its partition key attribute.
    pub hash: &'static str,
    /// Its sort key attribute.
    pub range: &'static str,
}

/// The jobs table's indexes: the owner listing and the sparse outbox index.
pub const JOBS_INDEXES: &[IndexSpec] = &[
    IndexSpec {
        name: JOBS_BY_OWNER_INDEX,
        hash: OWNER,
        range: CREATED_KEY,
    },
    IndexSpec {
        name: JOBS_WITH_OUTBOX_INDEX,
        hash: OUTBOX,
        range: OUTBOX_KEY,
    },
];

/// The webhooks table's index: the owner listing.
pub const WEBHOOKS_INDEXES: &[IndexSpec] = &[IndexSpec {
    name: WEBHOOKS_BY_OWNER_INDEX,
    hash: OWNER,
    range: CREATED_KEY,
}];

/// The deliveries table's indexes: the per-endpoint listing and the sparse due index.
pub const DELIVERIES_INDEXES: &[IndexSpec] = &[
    IndexSpec {
        name: DELIVERIES_BY_WEBHOOK_INDEX,
        hash: WEBHOOK_ID,
        range: CREATED_KEY,
    },
    IndexSpec {
        name: DELIVERIES_DUE_INDEX,
        hash: DUE,
        range: DUE_KEY,
    },
];

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

    ensure_table(&dynamo, &names.sessions_table, &[]).await?;
    ensure_table(&dynamo, &names.uploads_table, &[]).await?;
    ensure_table(&dynamo, &names.jobs_table, JOBS_INDEXES).await?;
    ensure_table(&dynamo, &names.webhooks_table, WEBHOOKS_INDEXES).await?;
    ensure_table(&dynamo, &names.deliveries_table, DELIVERIES_INDEXES).await?;
    ensure_table_sorted(&dynamo, &names.session_items_table, Some(SK), &[]).await?;
    ensure_ttl(&dynamo, &names.sessions_table).await?;
    ensure_table(&dynamo, &names.quotas_table, &[]).await?;
    ensure_ttl(&dynamo, &names.uploads_table).await?;
    ensure_ttl(&dynamo, &names.quotas_table).await?;
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

/// The attribute definitions of `pk` and of every index key, each once.
fn attribute_definitions(indexes: &[IndexSpec]) -> Result<Vec<AttributeDefinition>> {
    let mut names: Vec<&str> = vec![PK];
    for index in indexes {
        for name in [index.hash, index.range] {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names.into_iter().map(string_attribute).collect()
}

fn projection_all() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::All)
        .build()
}

fn index_keys(index: &IndexSpec) -> Result<Vec<KeySchemaElement>> {
    Ok(vec![
        key(index.hash, KeyType::Hash)?,
        key(index.range, KeyType::Range)?,
    ])
}

/// Creates the table keyed by `pk` with `indexes` unless it exists, adds any
/// index an existing table lacks, and waits until the table and its indexes are active.
///
/// An existing index of the same name with other keys is an error: DynamoDB
/// cannot change an index's keys, so it must be deleted by hand first.
async fn ensure_table(
    dynamo: &aws_sdk_dynamodb::Client,
    name: &str,
    indexes: &[IndexSpec],
) -> Result<()> {
    ensure_table_sorted(dynamo, name, None, indexes).await
}

/// [`ensure_table`] with an optional sort key `sort` beside `pk`.
async fn ensure_table_sorted(
    dynamo: &aws_sdk_dynamodb::Client,
    name: &str,
    sort: Option<&str>,
    indexes: &[IndexSpec],
) -> Result<()> {
    let mut definitions = attribute_definitions(indexes)?;
    let mut req = dynamo
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash)?);
    if let Some(sort) = sort {
        definitions.push(string_attribute(sort)?);
        req = req.key_schema(key(sort, KeyType::Range)?);
    }
    let mut req = req.set_attribute_definitions(Some(definitions));
    for index in indexes {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .set_key_schema(Some(index_keys(index)?))
                .projection(projection_all())
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
    let mut building = false;
    loop {
        let out = dynamo
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("describe table '{name}'"), e))?;
        let table = out
            .table()
            .ok_or_else(|| CodaError::Internal(format!("table '{name}' has no description")))?;
        if is_settled(table) {
            check_index_keys(name, table, indexes)?;
            let Some(missing) = indexes.iter().find(|spec| !has_index(table, spec.name)) else {
                return Ok(());
            };
            // One index per UpdateTable, as DynamoDB requires; the next pass adds the next.
            if add_index(dynamo, name, table, missing).await? {
                building = true;
            }
        } else if table
            .global_secondary_indexes()
            .iter()
            .any(|i| i.index_status() == Some(&IndexStatus::Creating))
        {
            building = true;
        }
        let limit = if building {
            INDEX_READY_TIMEOUT
        } else {
            TABLE_READY_TIMEOUT
        };
        if started.elapsed() > limit {
            return Err(CodaError::Unavailable(format!(
                "table '{name}' or its indexes are not active after {limit:?}{}",
                if building {
                    " (an index is still backfilling: run bootstrap again later)"
                } else {
                    ""
                }
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Whether the table and every index are active (nothing is being created, updated or deleted).
fn is_settled(table: &TableDescription) -> bool {
    table.table_status() == Some(&TableStatus::Active)
        && table
            .global_secondary_indexes()
            .iter()
            .all(|i| i.index_status().is_none_or(|s| *s == IndexStatus::Active))
}

fn has_index(table: &TableDescription, index: &str) -> bool {
    table
        .global_secondary_indexes()
        .iter()
        .any(|i| i.index_name() == Some(index))
}

/// Refuses an existing index whose keys differ from the spec.
fn check_index_keys(name: &str, table: &TableDescription, indexes: &[IndexSpec]) -> Result<()> {
    for spec in indexes {
        let Some(found) = table
            .global_secondary_indexes()
            .iter()
            .find(|i| i.index_name() == Some(spec.name))
        else {
            continue;
        };
        let keys: Vec<(&str, &KeyType)> = found
            .key_schema()
            .iter()
            .map(|k| (k.attribute_name(), k.key_type()))
            .collect();
        let want = [(spec.hash, &KeyType::Hash), (spec.range, &KeyType::Range)];
        if keys != want {
            return Err(CodaError::Internal(format!(
                "index '{}' of table '{name}' has keys {keys:?}, not {want:?}: delete the index and run bootstrap again",
                spec.name
            )));
        }
    }
    Ok(())
}

/// Starts building `index` on an existing table; false if DynamoDB is busy with another change (try again).
async fn add_index(
    dynamo: &aws_sdk_dynamodb::Client,
    name: &str,
    table: &TableDescription,
    index: &IndexSpec,
) -> Result<bool> {
    // The table's own definitions plus the new keys: DynamoDB needs the new
    // index's keys; moto replaces the definitions with what it is given.
    let mut definitions: Vec<AttributeDefinition> = table.attribute_definitions().to_vec();
    for attribute in [index.hash, index.range] {
        if !definitions.iter().any(|d| d.attribute_name() == attribute) {
            definitions.push(string_attribute(attribute)?);
        }
    }
    let create = CreateGlobalSecondaryIndexAction::builder()
        .index_name(index.name)
        .set_key_schema(Some(index_keys(index)?))
        .projection(projection_all())
        .build()
        .map_err(CodaError::internal)?;
    let result = dynamo
        .update_table()
        .table_name(name)
        .set_attribute_definitions(Some(definitions))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder().create(create).build(),
        )
        .send()
        .await;
    match result {
        Ok(_) => {
            tracing::info!(table = name, index = index.name, "adding index");
            Ok(true)
        }
        // Another change (a concurrent bootstrap, a stack update) is in progress.
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(
                    UpdateTableError::ResourceInUseException(_)
                        | UpdateTableError::LimitExceededException(_)
                )
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(sdk_error(
            &format!("add index '{}' to table '{name}'", index.name),
            e,
        )),
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
    fn attribute_definitions_are_unique() {
        let names: Vec<String> = attribute_definitions(JOBS_INDEXES)
            .unwrap()
            .iter()
            .map(|d| d.attribute_name().to_string())
            .collect();
        assert_eq!(
            names,
            ["pk", "owner", "created_key", "outbox", "outbox_key"]
        );
        let names: Vec<String> = attribute_definitions(DELIVERIES_INDEXES)
            .unwrap()
            .iter()
            .map(|d| d.attribute_name().to_string())
            .collect();
        assert_eq!(names, ["pk", "webhook_id", "created_key", "due", "due_key"]);
    }

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
