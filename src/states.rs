//! The states that Twilio's resources move through, typed: a conversation's `state`, a delivery
//! receipt's `status`, and what became of a webhook delivery; and the kinds that decide what a
//! resource does: a role's type, a scoped webhook's target, an address configuration's address
//! type and autocreation type. Stored and sent as the strings Twilio uses (`as_str`); read back
//! with `parse`.

use std::fmt;

/// A conversation's `state` (twilio-behavior.md 8.2): `active` and `inactive` go back and forth,
/// `closed` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationState {
    Active,
    Inactive,
    Closed,
}

impl ConversationState {
    pub const ALL: [ConversationState; 3] = [Self::Active, Self::Inactive, Self::Closed];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

impl fmt::Display for ConversationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A delivery receipt's `status` (twilio-behavior.md 15). A receipt starts with none (queued).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptStatus {
    Sent,
    Delivered,
    Read,
    Failed,
    Undelivered,
}

impl ReceiptStatus {
    pub const ALL: [ReceiptStatus; 5] = [
        Self::Sent,
        Self::Delivered,
        Self::Read,
        Self::Failed,
        Self::Undelivered,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
            Self::Undelivered => "undelivered",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// The status a receipt moves to next on its own (queued -> sent -> delivered), and whether
    /// that one is final; `None` once it is final or was set by hand.
    pub fn next_on_its_own(current: Option<Self>) -> Option<(Self, bool)> {
        match current {
            None => Some((Self::Sent, false)),
            Some(Self::Sent) => Some((Self::Delivered, true)),
            _ => None,
        }
    }
}

impl fmt::Display for ReceiptStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What became of one attempt to deliver a webhook, as the delivery log shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// The target answered 2xx.
    Delivered,
    /// The target answered otherwise, or not at all: whether it is tried again is decided
    /// next (`Retrying` or `GaveUp` is what the log keeps).
    Failed,
    /// A post-action attempt failed; it will be tried again.
    Retrying,
    /// A post-action attempt failed and was the last one.
    GaveUp,
    /// A Studio target: recorded, not sent (there is no Studio here).
    NotDelivered,
    /// A pre-action target vetoed the action (a non-2xx answer).
    Rejected,
    /// A pre-action target did not answer in time: the action went ahead unmodified.
    FailOpen,
}

impl DeliveryOutcome {
    pub const ALL: [DeliveryOutcome; 7] = [
        Self::Delivered,
        Self::Failed,
        Self::Retrying,
        Self::GaveUp,
        Self::NotDelivered,
        Self::Rejected,
        Self::FailOpen,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Retrying => "retrying",
            Self::GaveUp => "gave_up",
            Self::NotDelivered => "not_delivered",
            Self::Rejected => "rejected",
            Self::FailOpen => "fail_open",
        }
    }
}

impl DeliveryOutcome {
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|outcome| outcome.as_str() == s)
    }
}

impl fmt::Display for DeliveryOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role's `type` (twilio-behavior.md 16.1): what a role is given to, and so which default of a
/// service's configuration it may fill (7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleType {
    /// Given to users, service-wide.
    Service,
    /// Given to participants, in one conversation.
    Conversation,
}

impl RoleType {
    pub const ALL: [RoleType; 2] = [Self::Service, Self::Conversation];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Conversation => "conversation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for RoleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A conversation-scoped webhook's `target` (twilio-behavior.md 17.7): what it is sent and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookTarget {
    /// The post-events its filters name, to its URL.
    Webhook,
    /// A new message whose body holds one of its words, to its URL.
    Trigger,
    /// Every new message, to its Studio Flow.
    Studio,
}

impl WebhookTarget {
    pub const ALL: [WebhookTarget; 3] = [Self::Webhook, Self::Trigger, Self::Studio];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Trigger => "trigger",
            Self::Studio => "studio",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for WebhookTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The channel of an address configuration's address (the spec's
/// `configuration_address_enum_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressType {
    Sms,
    Whatsapp,
    Messenger,
    Gbm,
    Email,
    Rcs,
    Apple,
    Chat,
}

impl AddressType {
    pub const ALL: [AddressType; 8] = [
        Self::Sms,
        Self::Whatsapp,
        Self::Messenger,
        Self::Gbm,
        Self::Email,
        Self::Rcs,
        Self::Apple,
        Self::Chat,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Whatsapp => "whatsapp",
            Self::Messenger => "messenger",
            Self::Gbm => "gbm",
            Self::Email => "email",
            Self::Rcs => "rcs",
            Self::Apple => "apple",
            Self::Chat => "chat",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for AddressType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an inbound message to a configured address creates (twilio-behavior.md 19; the spec's
/// `configuration_address_enum_auto_creation_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoCreationType {
    /// A conversation with a scoped webhook to the configuration's URL.
    Webhook,
    /// A conversation with a Studio webhook to the configuration's flow.
    Studio,
    /// A conversation, nothing attached.
    Default,
}

impl AutoCreationType {
    pub const ALL: [AutoCreationType; 3] = [Self::Webhook, Self::Studio, Self::Default];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Studio => "studio",
            Self::Default => "default",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for AutoCreationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an action came from, as webhooks report it in `Source` (twilio-behavior.md 17.4): a
/// REST call, a chat SDK, or a message that arrived on a messaging channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Api,
    Sdk,
    Sms,
    Whatsapp,
}

impl Source {
    pub const ALL: [Source; 4] = [Self::Api, Self::Sdk, Self::Sms, Self::Whatsapp];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Api => "API",
            Self::Sdk => "SDK",
            Self::Sms => "SMS",
            Self::Whatsapp => "WHATSAPP",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|source| source.as_str() == s)
    }

    /// The `Source` of what a message arriving on this channel does.
    pub fn of_channel(channel: InboundChannel) -> Self {
        match channel {
            InboundChannel::Sms => Self::Sms,
            InboundChannel::Whatsapp => Self::Whatsapp,
        }
    }
}

/// The channels a message can arrive on at `POST /confab/Inbound`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InboundChannel {
    Sms,
    Whatsapp,
}

impl InboundChannel {
    pub const ALL: [InboundChannel; 2] = [Self::Sms, Self::Whatsapp];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Whatsapp => "whatsapp",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The address type of the Address Configurations that take this channel's messages.
    pub const fn address_type(self) -> AddressType {
        match self {
            Self::Sms => AddressType::Sms,
            Self::Whatsapp => AddressType::Whatsapp,
        }
    }
}

/// What became of an inbound message (twilio-behavior.md 19.1): appended to the conversation
/// that holds its (From, To) pair, or a new conversation created for it, or dropped by an
/// `onConversationAdd` veto, or ignored (nothing routes it); or it failed before any of that
/// (its media could not be fetched).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InboundOutcome {
    Appended,
    Created,
    Dropped,
    Ignored,
    Failed,
}

impl InboundOutcome {
    pub const ALL: [InboundOutcome; 5] = [
        Self::Appended,
        Self::Created,
        Self::Dropped,
        Self::Ignored,
        Self::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Appended => "appended",
            Self::Created => "created",
            Self::Dropped => "dropped",
            Self::Ignored => "ignored",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_what_they_write() {
        for state in ConversationState::ALL {
            assert_eq!(ConversationState::parse(state.as_str()), Some(state));
        }
        for status in ReceiptStatus::ALL {
            assert_eq!(ReceiptStatus::parse(status.as_str()), Some(status));
        }
        for source in Source::ALL {
            assert_eq!(Source::parse(source.as_str()), Some(source));
        }
        for channel in InboundChannel::ALL {
            assert_eq!(InboundChannel::parse(channel.as_str()), Some(channel));
        }
        for outcome in InboundOutcome::ALL {
            assert_eq!(InboundOutcome::parse(outcome.as_str()), Some(outcome));
        }
        for kind in RoleType::ALL {
            assert_eq!(RoleType::parse(kind.as_str()), Some(kind));
        }
        for target in WebhookTarget::ALL {
            assert_eq!(WebhookTarget::parse(target.as_str()), Some(target));
        }
        for kind in AddressType::ALL {
            assert_eq!(AddressType::parse(kind.as_str()), Some(kind));
        }
        for kind in AutoCreationType::ALL {
            assert_eq!(AutoCreationType::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ConversationState::parse("Active"), None);
    }

    #[test]
    fn receipts_move_sent_then_delivered_then_stop() {
        use ReceiptStatus::*;
        assert_eq!(ReceiptStatus::next_on_its_own(None), Some((Sent, false)));
        assert_eq!(
            ReceiptStatus::next_on_its_own(Some(Sent)),
            Some((Delivered, true))
        );
        assert_eq!(ReceiptStatus::next_on_its_own(Some(Delivered)), None);
        assert_eq!(ReceiptStatus::next_on_its_own(Some(Failed)), None);
    }
}
