//! `JobQueue` on SQS. Dead-lettering is the queue's redrive policy (set by
//! `bootstrap`), so this adapter only sends, receives, extends and deletes.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityError;
use aws_sdk_sqs::operation::delete_message::DeleteMessageError;
use aws_sdk_sqs::operation::get_queue_url::GetQueueUrlError;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;
use coda_core::ports::{JobQueue, QueueMessage};
use coda_core::{CodaError, Result};

use crate::error::sdk_error;

/// SQS hands out at most 10 messages per receive.
const MAX_BATCH: usize = 10;
/// SQS long polls for at most 20 s.
const MAX_WAIT_SECS: u64 = 20;
/// SQS hides a message for at most 12 hours.
const MAX_VISIBILITY_SECS: u64 = 43_200;
/// SQS caps `DelaySeconds` at 15 minutes.
const MAX_DELAY_SECS: u64 = 900;

/// A `JobQueue` over one SQS queue.
#[derive(Clone, Debug)]
pub struct SqsJobQueue {
    client: Client,
    url: String,
}

/// Whole seconds, rounded up: SQS counts in seconds, and rounding down could
/// turn a short wait into none or hide a message for less than asked.
fn ceil_secs(d: Duration, max: u64) -> i32 {
    let secs = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
    // `max` is at most 43 200, so the conversion cannot fail; the fallback only satisfies the types.
    i32::try_from(secs.min(max)).unwrap_or(i32::MAX)
}

impl SqsJobQueue {
    /// A queue at `url`.
    pub fn new(client: Client, url: &str) -> Self {
        Self {
            client,
            url: url.to_string(),
        }
    }

    /// The queue named `name`, its URL looked up (NotFound if there is no such queue).
    pub async fn connect(client: Client, name: &str) -> Result<Self> {
        let url = queue_url(&client, name)
            .await?
            .ok_or_else(|| CodaError::NotFound(format!("queue '{name}'")))?;
        Ok(Self::new(client, &url))
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn attribute(&self, names: &[QueueAttributeName]) -> Result<u64> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .set_attribute_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error(&format!("attributes of '{}'", self.url), e))?;
        let attrs = out.attributes();
        names.iter().try_fold(0u64, |sum, name| {
            let v = attrs.and_then(|a| a.get(name)).ok_or_else(|| {
                CodaError::Internal(format!("queue '{}' did not report {name}", self.url))
            })?;
            let v: u64 = v.parse().map_err(|_| {
                CodaError::Internal(format!("queue '{}' reported {name} = '{v}'", self.url))
            })?;
            Ok(sum.saturating_add(v))
        })
    }
}

/// The URL of the queue `name`, or None if it does not exist.
pub(crate) async fn queue_url(client: &Client, name: &str) -> Result<Option<String>> {
    match client.get_queue_url().queue_name(name).send().await {
        Ok(out) => Ok(out.queue_url().map(str::to_string)),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(GetQueueUrlError::QueueDoesNotExist(_))
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(sdk_error(&format!("look up queue '{name}'"), e)),
    }
}

#[async_trait]
impl JobQueue for SqsJobQueue {
    async fn send(&self, body: &str) -> Result<String> {
        // A zero delay is SQS's default: the message is visible at once.
        self.send_delayed(body, Duration::ZERO).await
    }

    async fn send_delayed(&self, body: &str, delay: Duration) -> Result<String> {
        let out = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(ceil_secs(delay, MAX_DELAY_SECS))
            .send()
            .await
            .map_err(|e| sdk_error(&format!("send to '{}'", self.url), e))?;
        out.message_id()
            .map(str::to_string)
            .ok_or_else(|| CodaError::Internal(format!("'{}' returned no message id", self.url)))
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<QueueMessage>> {
        if max == 0 {
            return Ok(vec![]);
        }
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(i32::try_from(max.min(MAX_BATCH)).unwrap_or(1))
            .visibility_timeout(ceil_secs(visibility, MAX_VISIBILITY_SECS))
            .wait_time_seconds(ceil_secs(wait, MAX_WAIT_SECS))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("receive from '{}'", self.url), e))?;
        let mut messages = Vec::new();
        for m in out.messages() {
            let (Some(id), Some(receipt)) = (m.message_id(), m.receipt_handle()) else {
                return Err(CodaError::Internal(format!(
                    "'{}' returned a message without id or receipt",
                    self.url
                )));
            };
            let receive_count = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            messages.push(QueueMessage {
                message_id: id.to_string(),
                receipt: receipt.to_string(),
                body: m.body().unwrap_or_default().to_string(),
                receive_count,
            });
        }
        Ok(messages)
    }

    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<()> {
        let result = self
            .client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(ceil_secs(visibility, MAX_VISIBILITY_SECS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(
                        ChangeMessageVisibilityError::ReceiptHandleIsInvalid(_)
                            | ChangeMessageVisibilityError::MessageNotInflight(_)
                    )
                ) =>
            {
                Err(CodaError::NotFound(format!("message receipt '{receipt}'")))
            }
            Err(e) => Err(sdk_error(&format!("extend a message of '{}'", self.url), e)),
        }
    }

    async fn ack(&self, receipt: &str) -> Result<()> {
        let result = self
            .client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already deleted, or a handle from an older receive: acking stays idempotent.
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(DeleteMessageError::ReceiptHandleIsInvalid(_))
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_error(&format!("delete a message of '{}'", self.url), e)),
        }
    }

    async fn depth(&self) -> Result<u64> {
        self.attribute(&[
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            QueueAttributeName::ApproximateNumberOfMessagesDelayed,
        ])
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_seconds_up_and_clamps() {
        assert_eq!(ceil_secs(Duration::ZERO, 20), 0);
        assert_eq!(ceil_secs(Duration::from_millis(200), 20), 1);
        assert_eq!(ceil_secs(Duration::from_millis(1_000), 20), 1);
        assert_eq!(ceil_secs(Duration::from_millis(1_001), 20), 2);
        assert_eq!(ceil_secs(Duration::from_secs(60), MAX_WAIT_SECS), 20);
        assert_eq!(ceil_secs(Duration::MAX, MAX_VISIBILITY_SECS), 43_200);
    }
}
