//! The states that Twilio's resources move through, typed: a conversation's `state`, a delivery
//! receipt's `status`, and what became of a webhook delivery. Stored and sent as the strings
//! Twilio uses (`as_str`); read back with `parse`.

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The target answered 2xx.
    Delivered,
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
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retrying => "retrying",
            Self::GaveUp => "gave_up",
            Self::NotDelivered => "not_delivered",
            Self::Rejected => "rejected",
            Self::FailOpen => "fail_open",
        }
    }
}

impl fmt::Display for DeliveryOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
