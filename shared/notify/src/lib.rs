//! Webhook delivery over HTTP: a sender that refuses forbidden addresses at
//! connect time, and the loop that turns outboxes into signed deliveries.

#![warn(missing_docs)]

pub mod sender;

pub use sender::HttpWebhookSender;
pub mod notifier;

pub use notifier::{run, NotifierSettings};
